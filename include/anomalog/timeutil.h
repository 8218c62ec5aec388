/**
 * @file timeutil.h
 * @brief Timestamps and durations: parsing what shippers send, printing what the API answers.
 *
 * Pure functions, no global state (no TZ, no locale), safe on any thread.
 */
#ifndef ANOMALOG_TIMEUTIL_H
#define ANOMALOG_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/**
 * Parses an RFC 3339 / ISO 8601 timestamp: `YYYY-MM-DD[T ]hh:mm[:ss[.frac]][Z|±hh:mm|±hhmm]`.
 * A timestamp without a zone is taken to be at tz_offset_s east of UTC.
 * @param[out] ms        milliseconds since the epoch, UTC
 * @param[out] consumed  bytes used (may be NULL); the parse need not consume all of s
 * @return 0 on success, -1 when s does not start with a valid timestamp.
 */
int time_parse_rfc3339(const char *s, size_t len, int tz_offset_s, int64_t *ms, size_t *consumed);

/**
 * Epoch number to milliseconds, the unit read from the magnitude in ranges
 * that no date after 2000 can fall in twice: < 1e10 seconds, [1e11, 1e13)
 * milliseconds, [1e14, 1e16) microseconds, [1e17, 1e19) nanoseconds.
 * @return 0, or -1 when v is negative, not finite, between those ranges
 *         (253402300800) or beyond them (1e20).
 */
int time_from_epoch_number(double v, int64_t *ms);

/**
 * time_from_epoch_number for an exact integer (a JSON integer or a string of
 * digits): same ranges, no rounding through a double.
 * @return 0, or -1 when v is negative or in no range.
 */
int time_from_epoch_integer(int64_t v, int64_t *ms);

/** 2000-01-01T00:00:00Z: event times before it are not believed (see time_within_reason). */
#define TIME_FLOOR_MS INT64_C(946684800000)

/**
 * Whether an event time is within reason: at most max_future_ms ahead of
 * received_ms and not before floor_ms. @return 1 or 0.
 */
int time_within_reason(int64_t ts_ms, int64_t received_ms, int64_t max_future_ms, int64_t floor_ms);

/**
 * Parses a whole string of decimal digits with an optional fraction
 * (`1732442400`, `1732442400.123`, `1732442400123456789`) as an epoch number.
 * No sign, exponent or surrounding space. @return 0 or -1.
 */
int time_parse_epoch_string(const char *s, size_t len, int64_t *ms);

/** Formats ms as `YYYY-MM-DDThh:mm:ss.mmmZ` into buf (at least 32 bytes). Returns buf. */
char *time_format_rfc3339(int64_t ms, char *buf, size_t buflen);

/** Wall-clock now, ms since the epoch. */
int64_t time_now_ms(void);

/** Monotonic clock, ms. */
int64_t time_mono_ms(void);

/**
 * Parses a duration: an integer followed by ms, s, m, h or d (`5m`, `300s`, `1h`);
 * a bare integer is seconds. @return 0, or -1 when malformed, zero or negative.
 */
int duration_parse_ms(const char *s, int64_t *ms);

/**
 * Parses a byte size: an integer with an optional unit B, K/KB/KiB, M/MB/MiB, G/GB/GiB
 * (all binary). @return 0, or -1 when malformed or zero.
 */
int size_parse(const char *s, uint64_t *bytes);

/** Parses a zone offset `Z`, `UTC`, `+hh:mm`, `-hhmm`. @return 0 or -1. */
int tz_offset_parse(const char *s, int *offset_s);

#endif
