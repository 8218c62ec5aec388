/**
 * @file redact.h
 * @brief Secrets and personal data out of log text before it leaves the
 *        process (for the model or a notification).
 *
 * A ::redactor holds the compiled rules: the built-in detectors and the extra
 * patterns of the config file. A ::redact_session numbers the values found in
 * one window (or one prompt): a value becomes a placeholder `<kind:N>`, the
 * same value the same placeholder wherever it appears in the session, so the
 * model can still see that two lines share a secret without seeing it.
 * Numbering is per kind (`<secret:1>`, `<secret:2>`, `<email:1>`). Only the
 * copy that leaves is redacted: stored raw lines stay as received.
 *
 * Built-in kinds and the forms they recognise:
 * - `secret`: the value after a sensitive key, the key kept visible
 *   (`password=<secret:1>`, `"token": "<secret:2>"`): `key=value`,
 *   `key = value`, `key: value`, `key => value`, JSON and Python-dict forms
 *   with single, double or backslash-escaped quotes (the quotes stay), and
 *   `<password>value</password>`. A key is sensitive when its last word
 *   (split at `_ - .` and camelCase) is password, passwd, pwd, passphrase,
 *   secret(s), token, auth, authorization or credential(s), or `pass` after
 *   another word (`db_pass`), or ends in password, passwd, pwd, secret,
 *   token, apikey, accesskey, secretkey or privatekey, or is `key` after
 *   api, access, secret, private, signing, master, encryption, app, auth or
 *   account (`X-Api-Key`, `clientSecret`, `AWS_SECRET_ACCESS_KEY`,
 *   `access_token`). `Authorization: Bearer xyz` and `Basic xyz` (also
 *   Token, Negotiate, NTLM, ApiKey) keep the scheme. A bare `Bearer <token>`
 *   is redacted when the token looks like one (8+ characters with a digit,
 *   punctuation or mixed case). URL userinfo `scheme://user:pass@host` loses
 *   the password. Not redacted: prose (`password changed for user bob`,
 *   `token bucket refilled`), empty values (`token= uid=0`), unquoted
 *   null/true/false/none/nil, a nested object or array (its own keys are
 *   looked at), a path after a pwd key (`PWD=/home/bob`), other last words
 *   (`prompt_tokens=12`, `token_ttl=5m`), an unquoted `key:value` with no
 *   space after the colon (`pam_unix(passwd:chauthtok)`), `auth: word`
 *   (`auth=x` and `"auth": "x"` are redacted), path components
 *   (`/etc/passwd: ...`).
 * - `jwt`: three (or more) base64url segments, the first starting `eyJ`.
 * - `aws_key`: `AKIA`/`ASIA` and 16 of [A-Z0-9], as a whole word.
 * - `private_key`: `-----BEGIN ... PRIVATE KEY-----` to the matching END line,
 *   markers included; with no END, to the end of the text.
 * - `card`: 13–19 digits, plain or in groups split by single spaces or dashes
 *   (first group of four), with a card-network prefix and a valid Luhn sum,
 *   not part of a longer word or number.
 * - `email`: `local@domain.tld` (the host part of URL credentials is not an
 *   address).
 * - `ip`: IPv4 and IPv6 addresses, only when redact_opts::ip_addresses is set.
 * - extra patterns: see redact_opts::patterns.
 *
 * Overlapping finds merge into one placeholder (never half a value left
 * visible); the kind is the first of private_key, jwt, aws_key, secret,
 * card, email, ip, then the extra patterns in order. A value's identity is
 * its exact text (a card's digits only), per kind.
 *
 * Text that already looks like a placeholder (`<word:N>`) is never redacted
 * again, so redacting redacted text keeps every placeholder as it is. Such
 * text in raw input is kept as is too, and may read like a generated one.
 *
 * Threads: a redactor is immutable after redactor_new() and may be used by
 * any number of threads at once; a session belongs to one thread at a time.
 */
#ifndef ANOMALOG_REDACT_H
#define ANOMALOG_REDACT_H

#include <jansson.h>
#include <stddef.h>

#define REDACT_MAX_PATTERNS 64     /**< extra patterns per redactor */
#define REDACT_PATTERN_MAX 4096    /**< bytes of one extra pattern */
#define REDACT_KIND_MAX 24         /**< bytes of a kind name: [a-z][a-z0-9_]* */

/** Compiled rules; immutable after creation; shared by threads. */
typedef struct redactor redactor;

/** What to redact beyond the built-in detectors. All zero: built-ins only. */
typedef struct redact_opts {
    int ip_addresses;            /**< also redact IPv4/IPv6 addresses as `<ip:N>` */
    /**
     * Extra PCRE2 patterns (POSIX ERE syntax mostly works too, including
     * `[[:digit:]]` classes). Each is redacted as `<custom:N>`, or, written
     * `name=regex` with name matching [a-z][a-z0-9_]{0,23}, as `<name:N>`
     * (a built-in name such as `secret` shares that kind's numbering). The
     * text before the first '=' is always read as a name when it has that
     * shape: to use a regex that itself starts with `word=`, write
     * `custom=word=...`. When the regex has a capture group and group 1 took
     * part in the match, only group 1 is redacted (`user=(\w+)` keeps
     * `user=`), otherwise the whole match.
     *
     * Patterns are matched one line at a time (`^` and `$` are line ends,
     * CR LF included), in UTF-8 mode where invalid byte sequences never
     * match. Matching is metered: a backtracking budget proportional to the
     * line's length, plus PCRE2 match, depth and heap limits. When a limit
     * is hit (say `(a+)+$` against `aaaa…b`), the match cannot be decided and
     * the rule fails safe: the rest of that line, from where the search
     * stood, is redacted as that pattern's kind. Nothing is ever left
     * unredacted because a pattern ran out of budget. Explicitly possessive
     * quantifiers and atomic groups are not metered inside; avoid them.
     */
    const char *const *patterns;
    size_t n_patterns;           /**< at most REDACT_MAX_PATTERNS */
} redact_opts;

/**
 * Compiles the rules.
 * @param[in] o  NULL for built-ins only
 * @param[out] err  on failure, NUL-terminated: which pattern and why, e.g.
 *        `redaction pattern 2 "(a+": missing closing parenthesis at offset 3`
 * @return a new redactor (free with redactor_free()), or NULL with err filled
 *         (a bad pattern, too many patterns, or out of memory).
 */
redactor *redactor_new(const redact_opts *o, char *err, size_t errlen);

/** Frees r (NULL is accepted). */
void redactor_free(redactor *r);

/** One window or prompt: value → placeholder numbering and counts; one thread at a time. */
typedef struct redact_session redact_session;

/** @return a new empty session, or NULL when out of memory. */
redact_session *redact_session_new(void);

/** Frees s (NULL is accepted). */
void redact_session_free(redact_session *s);

/**
 * Redacts text.
 * @param[in] text  len bytes, any bytes (need not be NUL-terminated; NUL and
 *        invalid UTF-8 are copied through when not redacted). May be NULL when
 *        len is 0. Valid UTF-8 in gives valid UTF-8 out.
 * @param[out] out_len  the result's length without its NUL (may be NULL)
 * @return a malloc'd NUL-terminated redacted copy (caller frees), or NULL when
 *         out of memory (the session may then have numbered some values).
 *         The same value gets the same placeholder within a session.
 */
char *redact_text(const redactor *r, redact_session *s, const char *text, size_t len, size_t *out_len);

/**
 * Counts of redactions per kind so far in the session (occurrences, not
 * distinct values), only kinds seen, e.g. {"secret": 3, "email": 1}.
 * @return a new jansson object (caller owns the reference), or NULL when out of memory.
 */
json_t *redact_session_counts(const redact_session *s);

#endif
