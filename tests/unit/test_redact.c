/*
 * test_redact.c — redaction: every built-in kind in each of its forms, the
 * key name and quotes kept, placeholders stable within a session and
 * distinct across values and kinds, counts, ordinary log lines (LogHub
 * samples and prose) left byte-identical, IP addresses on and off, extra
 * patterns (plain, named, with a group, sharing a built-in kind), clear
 * errors for bad patterns, the fail-safe when a pattern runs out of budget,
 * adversarial and malformed input (1 MB lines, 100k '=', nested quotes,
 * invalid UTF-8, NUL bytes, empty text), placeholders never redacted again,
 * and one redactor shared by threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>

#include "anomalog/redact.h"

/* Redacts in with s; checks the result's length and NUL, and that redacting
 * it again in the same session changes nothing. Caller frees. */
static char *red_n(const redactor *r, redact_session *s, const char *in, size_t len, size_t *out_len)
{
    size_t n = (size_t)-1;
    char *out = redact_text(r, s, in, len, &n);
    assert_non_null(out);
    assert_int_equal(out[n], '\0');
    char *again = redact_text(r, s, out, n, NULL);
    assert_non_null(again);
    if (strlen(again) != strlen(out) || memcmp(again, out, n) != 0)
        fail_msg("not idempotent:\n  once:  %s\n  twice: %s", out, again);
    free(again);
    if (out_len)
        *out_len = n;
    return out;
}

static char *red(const redactor *r, redact_session *s, const char *in)
{
    size_t n;
    char *out = red_n(r, s, in, strlen(in), &n);
    assert_int_equal(strlen(out), n);
    return out;
}

/* One fresh session per row; out must equal want. */
static void expect(const redactor *r, const char *in, const char *want)
{
    redact_session *s = redact_session_new();
    assert_non_null(s);
    char *out = red(r, s, in);
    if (strcmp(out, want) != 0)
        fail_msg("redact(%s)\n  got:  %s\n  want: %s", in, out, want);
    free(out);
    redact_session_free(s);
}

static redactor *make(int ips, const char *const *patterns, size_t n)
{
    char err[256];
    redact_opts o = {.ip_addresses = ips, .patterns = patterns, .n_patterns = n};
    redactor *r = redactor_new(&o, err, sizeof err);
    if (!r)
        fail_msg("redactor_new: %s", err);
    return r;
}

typedef struct row {
    const char *in, *want;
} row;

#define JWT_HS256                                                                                                      \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"

static const row SECRET_ROWS[] = {
    /* key=value, key = value, key: value, key => value */
    {"password=hunter2", "password=<secret:1>"},
    {"login ok password=hunter2 user=bob", "login ok password=<secret:1> user=bob"},
    {"db_password = hunter2 next", "db_password = <secret:1> next"},
    {"DB_PASSWORD: hunter2", "DB_PASSWORD: <secret:1>"},
    {"passwd=abc;user=bob", "passwd=<secret:1>;user=bob"},
    {"pwd=abc123", "pwd=<secret:1>"},
    {"mysql_pass=abc", "mysql_pass=<secret:1>"},
    {"passphrase: correct-horse", "passphrase: <secret:1>"},
    {"secret: s3cr3t", "secret: <secret:1>"},
    {"client_secret=abc&grant_type=client_credentials", "client_secret=<secret:1>&grant_type=client_credentials"},
    {"GET /cb?access_token=abc123&state=xyz HTTP/1.1", "GET /cb?access_token=<secret:1>&state=xyz HTTP/1.1"},
    {"api_key=k1 apikey=k2 X-Api-Key: k3", "api_key=<secret:1> apikey=<secret:2> X-Api-Key: <secret:3>"},
    {"apiKey=k1 APIKey=k2 accessKey=k3", "apiKey=<secret:1> APIKey=<secret:2> accessKey=<secret:3>"},
    {"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "AWS_SECRET_ACCESS_KEY=<secret:1>"},
    {"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "aws_secret_access_key = <secret:1>"},
    {"private_key=abc privateKey: def", "private_key=<secret:1> privateKey: <secret:2>"},
    {"spring.datasource.password=pw", "spring.datasource.password=<secret:1>"},
    {"GITHUB_TOKEN=ghp_abc refresh_token=r1 csrfToken=c1",
     "GITHUB_TOKEN=<secret:1> refresh_token=<secret:2> csrfToken=<secret:3>"},
    {"credentials=u:p auth=xyz", "credentials=<secret:1> auth=<secret:2>"},
    {"run --password=pw --verbose", "run --password=<secret:1> --verbose"},
    {"opts {:password => \"pw\"}", "opts {:password => \"<secret:1>\"}"},
    {"password=\"a b c\" next", "password=\"<secret:1>\" next"},
    {"password='pw' next", "password='<secret:1>' next"},
    {"password=\"unterminated to the end", "password=\"<secret:1>"},
    {"token=abc\\nnext line", "token=<secret:1>\\nnext line"},
    {"line one\\npassword=pw", "line one\\npassword=<secret:1>"},
    /* JSON, Python dicts, escaped JSON inside a string */
    {"{\"password\":\"hunter2\",\"user\":\"bob\"}", "{\"password\":\"<secret:1>\",\"user\":\"bob\"}"},
    {"{\"password\": \"hunter2\", \"token\" : \"t\"}", "{\"password\": \"<secret:1>\", \"token\" : \"<secret:2>\"}"},
    {"{\"token\": 12345}", "{\"token\": <secret:1>}"},
    {"{\"token\":12345,\"pwd\":\"/x\",password:\"pw\"}", "{\"token\":<secret:1>,\"pwd\":\"/x\",password:\"<secret:2>\"}"},
    {"{\"token\": null, \"password\": \"\", \"secret\": true}", "{\"token\": null, \"password\": \"\", \"secret\": true}"},
    {"{\"credentials\": {\"user\": \"bob\", \"password\": \"pw\"}}",
     "{\"credentials\": {\"user\": \"bob\", \"password\": \"<secret:1>\"}}"},
    {"{\"secrets\": [\"a\"]}", "{\"secrets\": [\"a\"]}"},
    {"{\"password\":\"a\\\"b\"}", "{\"password\":\"<secret:1>\"}"},
    {"msg=\"{\\\"password\\\":\\\"pw\\\",\\\"user\\\":\\\"bob\\\"}\"",
     "msg=\"{\\\"password\\\":\\\"<secret:1>\\\",\\\"user\\\":\\\"bob\\\"}\""},
    {"{'password': 'pw', 'token': None}", "{'password': '<secret:1>', 'token': None}"},
    /* XML elements */
    {"<user>bob</user><password>pw 1</password>", "<user>bob</user><password><secret:1></password>"},
    {"<password></password><token/>", "<password></password><token/>"},
    /* Authorization headers keep the scheme */
    {"Authorization: Bearer abc.def-123", "Authorization: Bearer <secret:1>"},
    {"authorization: Basic dXNlcjpwYXNz", "authorization: Basic <secret:1>"},
    {"{\"Authorization\": \"Bearer tok\"}", "{\"Authorization\": \"Bearer <secret:1>\"}"},
    {"curl -H 'Authorization: Bearer sk-live-1' https://api", "curl -H 'Authorization: Bearer <secret:1>' https://api"},
    {"Proxy-Authorization: Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnag==",
     "Proxy-Authorization: Negotiate <secret:1>"},
    {"Authorization: tok123", "Authorization: <secret:1>"},
    {"Authorization: Bearer", "Authorization: Bearer"},
    {"auth: Bearer xyz", "auth: Bearer <secret:1>"},
    /* bare Bearer */
    {"sent Bearer abcDEF123456 upstream", "sent Bearer <secret:1> upstream"},
    {"bearer mF_9.B5f-4.1JqM", "bearer <secret:1>"},
    /* URL userinfo */
    {"postgres://admin:pa55@db.example.com:5432/app", "postgres://admin:<secret:1>@db.example.com:5432/app"},
    {"redis://:pw@cache:6379/0", "redis://:<secret:1>@cache:6379/0"},
    {"DATABASE_URL=mysql://u:p%40ss@h/db", "DATABASE_URL=mysql://u:<secret:1>@h/db"},
};

static const row OTHER_KIND_ROWS[] = {
    /* jwt (wins over secret when both apply) */
    {"token " JWT_HS256 " done", "token <jwt:1> done"},
    {"id_token=" JWT_HS256, "id_token=<jwt:1>"},
    {"Authorization: Bearer " JWT_HS256, "Authorization: Bearer <jwt:1>"},
    {"unsigned eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0. end", "unsigned <jwt:1> end"},
    {"{\"jwt\":\"" JWT_HS256 "\"}", "{\"jwt\":\"<jwt:1>\"}"},
    /* aws_key */
    {"key AKIAIOSFODNN7EXAMPLE used", "key <aws_key:1> used"},
    {"aws_access_key_id=ASIAY34FZKBOKMUTVV7A", "aws_access_key_id=<aws_key:1>"},
    {"password=AKIAIOSFODNN7EXAMPLE", "password=<aws_key:1>"},
    /* private_key */
    {"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\nnext",
     "<private_key:1>\nnext"},
    {"key: -----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY----- loaded", "key: <private_key:1> loaded"},
    {"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\nAAAA", "<private_key:1>"},
    {"x -----BEGIN ENCRYPTED PRIVATE KEY----- a -----END CERTIFICATE----- b -----END ENCRYPTED PRIVATE KEY----- z",
     "x <private_key:1> z"},
    {"-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----",
     "<private_key:1>"},
    /* card */
    {"card 4111 1111 1111 1111 ok", "card <card:1> ok"},
    {"card 4111-1111-1111-1111 ok", "card <card:1> ok"},
    {"cc=5555555555554444;", "cc=<card:1>;"},
    {"amex 378282246310005 and 3782 822463 10005 x", "amex <card:1> and <card:1> x"},
    {"mc 2223003122003222, disc 6011111111111117.", "mc <card:1>, disc <card:2>."},
    {"visa13 4222222222222", "visa13 <card:1>"},
    /* email */
    {"from alice.smith+tag@example.co.uk to bob@corp.example.", "from <email:1> to <email:2>."},
    {"mailto:bob@example.com", "mailto:<email:1>"},
    {"<bob@example.com>", "<<email:1>>"},
    {"user=bob@example.com", "user=<email:1>"},
    {"password=bob@example.com", "password=<secret:1>"},
    /* several kinds in one line */
    {"user alice@example.com paid with 4111111111111111 using token=abc",
     "user <email:1> paid with <card:1> using token=<secret:1>"},
};

static void test_kinds(void **state)
{
    (void)state;
    redactor *r = make(0, NULL, 0);
    for (size_t i = 0; i < sizeof SECRET_ROWS / sizeof *SECRET_ROWS; i++)
        expect(r, SECRET_ROWS[i].in, SECRET_ROWS[i].want);
    for (size_t i = 0; i < sizeof OTHER_KIND_ROWS / sizeof *OTHER_KIND_ROWS; i++)
        expect(r, OTHER_KIND_ROWS[i].in, OTHER_KIND_ROWS[i].want);
    redactor_free(r);
}

/* Lines that must come out byte-identical with IP addresses off. */
static const char *const ORDINARY[] = {
    /* LogHub samples */
    "[Sun Dec 04 04:51:09 2005] [notice] jk2_init() Found child 6728 in scoreboard slot 6",
    "[Sun Dec 04 06:52:39 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties",
    "[Mon Dec 05 18:40:54 2005] [error] mod_jk child workerEnv in error state 6",
    "081109 204106 329 INFO dfs.DataNode$PacketResponder: PacketResponder 2 for block blk_-6670958622368987959 "
    "terminating",
    "081110 103113 30 INFO dfs.FSNamesystem: BLOCK* NameSystem.delete: blk_4499140370762613763 is added to "
    "invalidSet of 10.251.43.115:50010",
    "081110 192015 14269 WARN dfs.DataNode$DataXceiver: 10.250.10.223:50010:Got exception while serving "
    "blk_9095955277706686312 to /10.250.5.161:",
    "081110 144735 12785 INFO dfs.DataNode$DataXceiver: Receiving block blk_-5078186985701364847 src: "
    "/10.251.37.240:35757 dest: /10.251.37.240:50010",
    "2015-10-18 18:01:48,963 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Kind: YARN_AM_RM_TOKEN, "
    "Service: , Ident: (appAttemptId { application_id { id: 20 cluster_timestamp: 1445144423722 } attemptId: 1 } "
    "keyId: -127633188)",
    "2015-10-18 18:01:51,322 INFO [main] org.apache.hadoop.mapreduce.v2.app.job.impl.JobImpl: Adding job token for "
    "job_1445144423722_0020 to jobTokenSecretManager",
    "2015-10-18 18:01:57,119 INFO [AsyncDispatcher event handler] "
    "org.apache.hadoop.mapreduce.v2.app.job.impl.TaskAttemptImpl: Adding #0 tokens and #1 secret keys for NM use "
    "for launching container",
    "2015-10-18 18:02:02,104 INFO [Socket Reader #1 for port 62270] SecurityLogger.org.apache.hadoop.ipc.Server: "
    "Auth successful for job_1445144423722_0020 (auth:SIMPLE)",
    "2015-10-18 18:04:10,002 INFO [RMCommunicator Allocator] "
    "org.apache.hadoop.mapreduce.v2.app.rm.RMContainerAllocator: Cannot assign container Container: [ContainerId: "
    "container_1445144423722_0020_01_000012, NodeId: MSRA-SA-39.fareast.corp.microsoft.com:28345, "
    "NodeHttpAddress: MSRA-SA-39.fareast.corp.microsoft.com:8042, Resource: <memory:1024, vCores:1>, Priority: 20, "
    "Token: Token { kind: ContainerToken, service: 172.22.149.145:28345 }, ] for a map as either  container memory "
    "less than required <memory:1024, vCores:1> or no pending map tasks - maps.isEmpty=true",
    "2015-10-18 18:07:04,219 WARN [LeaseRenewer:msrabi@msra-sa-41:9000] org.apache.hadoop.hdfs.LeaseRenewer: Failed "
    "to renew lease for [DFSClient_NONMAPREDUCE_1537864556_1] for 126 seconds.  Will retry shortly ...",
    "2015-10-18 18:06:18,045 INFO [RMCommunicator Allocator] org.apache.hadoop.ipc.Client: Retrying connect to "
    "server: msra-sa-41:8030. Already tried 0 time(s); retry policy is "
    "RetryUpToMaximumCountWithFixedSleep(maxRetries=10, sleepTime=1000 MILLISECONDS)",
    "20171223-22:17:27:859|Step_LSC|30002312|onExtend:1514038648000 0 0 0",
    "20171223-22:19:59:164|Step_SPUtils|30002312| getTodayTotalDetailSteps = "
    "1514038680000##7163##548935##8661##16256##27442827",
    "20171223-22:15:54:661|Step_StandReportReceiver|30002312|REPORT : 7048 5032 150968 240",
    "20171223-22:19:58:411|HiH_HiHealthBinder|30002312|insertHiHealthData() bulkSaveDetailHiHealthData fail "
    "errorCode = 4,errorMessage = ERR_DATA_INSERT ",
    "Dec 10 06:55:46 LabSZ sshd[24200]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
    "ruser= rhost=173.234.31.186 ",
    "Dec 10 06:55:46 LabSZ sshd[24200]: pam_unix(sshd:auth): check pass; user unknown",
    "Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 "
    "ssh2",
    "Dec 10 09:11:52 LabSZ sshd[24460]: error: Received disconnect from 103.99.0.122: 14: No more user "
    "authentication methods available. [preauth]",
    "Dec 10 07:07:38 LabSZ sshd[24206]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
    "ruser= rhost=ec2-52-80-34-196.cn-north-1.compute.amazonaws.com.cn ",
    "Dec 10 09:16:33 LabSZ sshd[24589]: reverse mapping checking getaddrinfo for "
    "customer-187-141-143-180-sta.uninet-ide.com.mx [187.141.143.180] failed - POSSIBLE BREAK-IN ATTEMPT!",
    "[10.30 17:48:52] SogouCloud.exe - get.sogou.com:80 close, 724 bytes sent, 516 bytes received, lifetime <1 sec",
    "[10.30 20:48:26] chrome.exe - proxy.cse.cuhk.edu.hk:5070 close, 2532 bytes (2.47 KB) sent, 750 bytes received, "
    "lifetime 00:41",
    "17/06/09 20:10:40 INFO spark.SecurityManager: SecurityManager: authentication disabled; ui acls disabled; users "
    "with view permissions: Set(yarn, curi); users with modify permissions: Set(yarn, curi)",
    "17/06/09 20:10:53 INFO python.PythonRunner: Times: total = 39, boot = -107, init = 146, finish = 0",
    "17/06/09 20:11:11 INFO executor.Executor: Finished task 20.0 in stage 29.0 (TID 1340). 2128 bytes result sent "
    "to driver",
    "2015-07-30 19:57:45,009 - INFO  [CommitProcessor:3:ZooKeeperServer@595] - Established session 0x34ede65503f002d "
    "with negotiated timeout 20000 for client /10.10.34.11:51041",
    "2015-08-25 07:03:15,756 - WARN  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:QuorumCnxManager@368] - Cannot open "
    "channel to 3 at election address /10.10.34.13:3888",
    "2015-08-10 18:12:34,004 - INFO  [ProcessThread(sid:3 cport:-1)::PrepRequestProcessor@476] - Processed session "
    "termination for sessionid: 0x24f0557806a0010",
    /* prose and look-alikes */
    "password changed for user bob",
    "token bucket refilled",
    "no Bearer token in request",
    "Bearer authentication failed",
    "new session token issued, password reset required",
    "prompt_tokens=512 completion_tokens=20 max_tokens_total=100",
    "token= uid=0 euid=0",
    "password_length=12 passwordHash=bcrypt token_ttl=5m auth_timeout=30s",
    "tests pass=12 fail=0",
    "sudo: bob : TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/ls",
    "open /etc/passwd: permission denied",
    "passwd[812]: pam_unix(passwd:chauthtok): password changed for bob",
    "token:abc is not key: value, nor is password:x",
    "request_id=550e8400-e29b-41d4-a716-446655440000 took 15ms",
    "uuid 123e4567-e89b-12d3-a456-426614174000 duration=250ms at 12:30:45.123",
    "order 4111111111111112 and ref 1234567812345670 and 41111111111111111111",
    "ts=1514038648000 epoch_ns=1700000000000000000 pi=3.4111111111111111",
    "std::string Token::parse(const char*) failed",
    "java.lang.Object@1b6d3586 and org.apache.Foo@5e2de80c",
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
    "template Received block <*> of size <*> from <*>",
    "XAKIAIOSFODNN7EXAMPLE AKIAIOSFODNN7EXAMPLEX",
    "version 1.2.3.4 at 10.0.0.1 and fe80::1",
    "https://example.com/path?q=1 and ssh://git@github/repo",
};

static void test_ordinary_untouched(void **state)
{
    (void)state;
    redactor *r = make(0, NULL, 0);
    redact_session *s = redact_session_new();
    for (size_t i = 0; i < sizeof ORDINARY / sizeof *ORDINARY; i++) {
        char *out = red(r, s, ORDINARY[i]);
        if (strcmp(out, ORDINARY[i]) != 0)
            fail_msg("changed:\n  in:  %s\n  out: %s", ORDINARY[i], out);
        free(out);
    }
    json_t *c = redact_session_counts(s);
    assert_int_equal(json_object_size(c), 0);
    json_decref(c);
    redact_session_free(s);
    redactor_free(r);
}

static void test_ip_addresses(void **state)
{
    (void)state;
    static const row on[] = {
        {"from 10.0.0.1:8080 to 10.0.0.2", "from <ip:1>:8080 to <ip:2>"},
        {"rhost=173.234.31.186 again 173.234.31.186", "rhost=<ip:1> again <ip:1>"},
        {"src: /10.251.37.240:35757", "src: /<ip:1>:35757"},
        {"[::1]:443 and fe80::1%eth0", "[<ip:1>]:443 and <ip:2>%eth0"},
        {"addr 2001:db8::8a2e:370:7334.", "addr <ip:1>."},
        {"mapped ::ffff:192.0.2.1 ok", "mapped <ip:1> ok"},
        {"at 12:30:45 v1.2.3.4 1.2.3.4.5 256.1.1.1 std::map dead:beef:cafe ::",
         "at 12:30:45 v1.2.3.4 1.2.3.4.5 256.1.1.1 std::map dead:beef:cafe ::"},
        {"user bob@10.0.0.1", "user bob@<ip:1>"},
    };
    redactor *r = make(1, NULL, 0);
    for (size_t i = 0; i < sizeof on / sizeof *on; i++)
        expect(r, on[i].in, on[i].want);
    redactor_free(r);
    r = make(0, NULL, 0);
    for (size_t i = 0; i < sizeof on / sizeof *on; i++)
        expect(r, on[i].in, on[i].in);
    redactor_free(r);
}

static void test_stable_placeholders(void **state)
{
    (void)state;
    redactor *r = make(1, NULL, 0);
    redact_session *s = redact_session_new();
    static const row lines[] = {
        {"password=a token=b", "password=<secret:1> token=<secret:2>"},
        {"again password=a from 10.0.0.1", "again password=<secret:1> from <ip:1>"},
        {"mail bob@example.com token=a", "mail <email:1> token=<secret:1>"},
        {"ip 10.0.0.2 then 10.0.0.1", "ip <ip:2> then <ip:1>"},
        {"{\"secret\":\"c\",\"password\":\"b\"}", "{\"secret\":\"<secret:3>\",\"password\":\"<secret:2>\"}"},
        {"mail alice@example.com bob@example.com", "mail <email:2> <email:1>"},
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        char *out = red(r, s, lines[i].in);
        if (strcmp(out, lines[i].want) != 0)
            fail_msg("line %zu\n  got:  %s\n  want: %s", i, out, lines[i].want);
        free(out);
    }
    /* the same value of two kinds is two placeholders; numbering is per kind */
    char *out = red(r, s, "password=bob@example.com bob@example.com");
    assert_string_equal(out, "password=<secret:4> <email:1>");
    free(out);
    /* counts: occurrences per kind, only kinds seen */
    json_t *c = redact_session_counts(s);
    json_t *want = json_pack("{s:i, s:i, s:i}", "secret", 7, "ip", 3, "email", 4);
    if (!json_equal(c, want)) {
        char *d = json_dumps(c, JSON_SORT_KEYS);
        fail_msg("counts %s", d);
    }
    json_decref(c);
    json_decref(want);
    redact_session_free(s);

    /* a new session numbers from 1 again */
    s = redact_session_new();
    out = red(r, s, "token=b");
    assert_string_equal(out, "token=<secret:1>");
    free(out);
    c = redact_session_counts(s);
    want = json_pack("{s:i}", "secret", 1);
    assert_true(json_equal(c, want));
    json_decref(c);
    json_decref(want);
    redact_session_free(s);
    redactor_free(r);

    /* NULL is accepted by the free functions; an empty session counts nothing */
    redactor_free(NULL);
    redact_session_free(NULL);
    s = redact_session_new();
    c = redact_session_counts(s);
    assert_true(json_is_object(c) && json_object_size(c) == 0);
    json_decref(c);
    redact_session_free(s);
}

static void test_many_values(void **state)
{
    (void)state;
    redactor *r = make(0, NULL, 0);
    redact_session *s = redact_session_new();
    char in[64], want[64];
    for (int round = 0; round < 2; round++) {
        for (int i = 1; i <= 5000; i++) {
            snprintf(in, sizeof in, "token=v%d", i);
            snprintf(want, sizeof want, "token=<secret:%d>", i);
            char *out = redact_text(r, s, in, strlen(in), NULL);
            assert_non_null(out);
            assert_string_equal(out, want);
            free(out);
        }
    }
    redact_session_free(s);
    redactor_free(r);
}

static void test_extra_patterns(void **state)
{
    (void)state;
    static const char *const pats[] = {
        "\\bEMP[0-9]{5}\\b",                 /* <custom:N> */
        "ssn=\\d{3}-\\d{2}-\\d{4}",          /* named */
        "user=user=(\\w+)",                  /* named, group 1 only */
        "secret=sk_live_[0-9a-z]{8}",        /* shares the built-in kind */
        "custom=acct=[[:digit:]]{6}",        /* a regex starting with word=, POSIX class */
        "phone=^\\+\\d{11}$",                /* anchored to the line */
    };
    redactor *r = make(0, pats, sizeof pats / sizeof *pats);
    static const row rows[] = {
        {"badge EMP12345 ok, EMP123456 not", "badge <custom:1> ok, EMP123456 not"},
        {"ssn 123-45-6789 and 987-65-4321", "ssn <ssn:1> and <ssn:2>"},
        {"login user=bob from user=bob", "login user=<user:1> from user=<user:1>"},
        {"password=x key sk_live_abcd1234", "password=<secret:1> key <secret:2>"},
        {"acct=123456 EMP00001", "<custom:1> <custom:2>"},
        {"+44123456789\n+44123456789 x\r\n+44111111111\r", "<phone:1>\n+44123456789 x\r\n<phone:2>\r"},
        {"nothing here", "nothing here"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        expect(r, rows[i].in, rows[i].want);
    redactor_free(r);

    /* a pattern that matches the empty string redacts only what it matches */
    static const char *const empty_ok[] = {"x*"};
    r = make(0, empty_ok, 1);
    expect(r, "axxb\xc3\xa9x", "a<custom:1>b\xc3\xa9<custom:2>");
    redactor_free(r);
}

static void test_bad_patterns(void **state)
{
    (void)state;
    static const struct {
        const char *pats[3];
        size_t n;
        const char *want[3]; /* substrings of the error */
    } rows[] = {
        {{"(a+"}, 1, {"redaction pattern 1 \"(a+\"", "missing closing parenthesis", "offset 3"}},
        {{"ok", "ssn=[z-a]"}, 2, {"redaction pattern 2 \"ssn=[z-a]\"", "range out of order", "offset 7"}},
        {{"ok", "ok2", "name="}, 3, {"redaction pattern 3", "empty regular expression", NULL}},
        {{"ok", NULL}, 2, {"redaction pattern 2: missing", NULL, NULL}},
        {{"caf\xc3"}, 1, {"redaction pattern 1", "UTF-8", NULL}},
        {{"a{2,1}"}, 1, {"redaction pattern 1", "offset", NULL}},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        char err[256];
        memset(err, 'x', sizeof err);
        redact_opts o = {0, rows[i].pats, rows[i].n};
        redactor *r = redactor_new(&o, err, sizeof err);
        assert_null(r);
        assert_non_null(memchr(err, '\0', sizeof err));
        for (size_t k = 0; k < 3 && rows[i].want[k]; k++)
            if (!strstr(err, rows[i].want[k]))
                fail_msg("row %zu: error \"%s\" lacks \"%s\"", i, err, rows[i].want[k]);
    }
    /* too many patterns */
    const char *many[REDACT_MAX_PATTERNS + 1];
    for (size_t i = 0; i <= REDACT_MAX_PATTERNS; i++)
        many[i] = "a";
    char err[256];
    redact_opts o = {0, many, REDACT_MAX_PATTERNS + 1};
    assert_null(redactor_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "at most 64"));
    o.n_patterns = REDACT_MAX_PATTERNS;
    redactor *r = redactor_new(&o, err, sizeof err);
    assert_non_null(r);
    redactor_free(r);
    /* a long pattern is cut in the message */
    char longp[300];
    memset(longp, 'a', sizeof longp);
    memcpy(longp + 250, "(((", 3);
    longp[sizeof longp - 1] = '\0';
    const char *lp[] = {longp};
    o = (redact_opts){0, lp, 1};
    assert_null(redactor_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "...\""));
    assert_true(strlen(err) < 200);
    /* NULL opts: built-ins only */
    r = redactor_new(NULL, err, sizeof err);
    assert_non_null(r);
    redactor_free(r);
}

/* A line of n copies of unit, then tail. */
static char *repeat(const char *unit, size_t n, const char *tail, size_t *len)
{
    size_t ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(ul * n + tl + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * ul, unit, ul);
    memcpy(s + ul * n, tail, tl + 1);
    *len = ul * n + tl;
    return s;
}

static void test_fail_safe(void **state)
{
    (void)state;
    /* catastrophic backtracking: the budget runs out, the line is redacted whole */
    static const char *const pats[] = {"(a+)+$", "(x|x)*y", "(.*a){25}", "custom=k=\\w+|(b+)+c$"};
    /* (every line below avoids what the other patterns would match) */
    redactor *r = make(0, pats, sizeof pats / sizeof *pats);
    redact_session *s = redact_session_new();
    size_t len;
    char *in = repeat("a", 100000, "b\nsecond line holds", &len);
    char *out = red_n(r, s, in, len, NULL);
    assert_string_equal(out, "<custom:1>\nsecond line holds");
    free(out);
    free(in);
    in = repeat("x", 5000, "-y\nok", &len);
    out = red_n(r, s, in, len, NULL);
    assert_string_equal(out, "<custom:2>\nok");
    free(out);
    free(in);
    /* a match first, then the budget runs out: the match and the rest */
    in = repeat("b", 3000, "d", &len);
    char *line = malloc(len + 16);
    snprintf(line, len + 16, "pre k=v %s", in);
    out = red(r, s, line);
    assert_string_equal(out, "pre <custom:3><custom:4>");
    free(out);
    free(line);
    free(in);
    /* 1 MB of 'a' then 'b', one line */
    in = repeat("a", 1 << 20, "b", &len);
    out = red_n(r, s, in, len, NULL);
    assert_string_equal(out, "<custom:5>");
    free(out);
    free(in);
    json_t *c = redact_session_counts(s);
    assert_int_equal(json_integer_value(json_object_get(c, "custom")), 5);
    json_decref(c);
    redact_session_free(s);
    redactor_free(r);

    /* a pattern with ordinary backtracking on long lines stays within budget */
    static const char *const fine[] = {"[A-Za-z0-9]+@corp\\.com", "sid-[0-9a-f]{8,}"};
    r = make(0, fine, 2);
    s = redact_session_new();
    in = repeat("abcdefgh ", 20000, "ok sid-deadbeef99 x@corp.com", &len);
    out = red_n(r, s, in, len, &len);
    assert_true(len > 180000);
    assert_non_null(strstr(out, "ok <custom:1> <email:1>")); /* a built-in kind wins an overlap */
    free(out);
    free(in);
    redact_session_free(s);
    redactor_free(r);
}

static void test_adversarial(void **state)
{
    (void)state;
    static const struct {
        const char *unit, *tail;
        size_t n;
    } rows[] = {
        {"a", "", 1 << 20},
        {"=", "", 100000},
        {"\"", "", 100000},
        {"password=", "", 50000},
        {"password=\"", "", 50000},
        {"\"password\":\"", "", 20000},
        {"\\\"", "", 100000},
        {"password=\\\"", "x", 30000},
        {"{\"token\":", "", 30000},
        {"'", "", 100000},
        {"@", "", 100000},
        {"a@", "", 100000},
        {"a.", "@b", 100000},
        {"@a.", "com", 100000},
        {"eyJ", "", 100000},
        {"eyJaaaaaaaaaaa.", "", 30000},
        {"-----BEGIN ", "", 50000},
        {"-----BEGIN RSA PRIVATE KEY-----", "", 10000},
        {"-----END RSA PRIVATE KEY-----", "", 10000},
        {"://", "", 100000},
        {"://a:", "@", 50000},
        {"<a:1", "", 50000},
        {"<secret:1>", "", 50000},
        {"1 ", "", 100000},
        {"4111 ", "", 50000},
        {"1", "", 200000},
        {"1.", "", 100000},
        {":", "", 100000},
        {"a:", "", 100000},
        {"ff:", "", 100000},
        {"Bearer ", "", 100000},
        {"AKIA", "", 100000},
        {"token", "", 100000},
        {"x-", "", 100000},
        {"\n", "", 100000},
        {"\xff", "", 100000},
    };
    static const char *const pats[] = {"custom=user=(\\w+)"};
    redactor *r = make(1, pats, 1);
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        size_t len, olen;
        char *in = repeat(rows[i].unit, rows[i].n, rows[i].tail, &len);
        redact_session *s = redact_session_new();
        char *out = red_n(r, s, in, len, &olen);
        assert_true(olen <= len * 37);
        redact_session_free(s);
        free(out);
        free(in);
    }
    /* 1 MB of 'a' and 100k '=' come out as they went in */
    size_t len, olen;
    char *in = repeat("a", 1 << 20, "", &len);
    redact_session *s = redact_session_new();
    char *out = red_n(r, s, in, len, &olen);
    assert_int_equal(olen, len);
    assert_memory_equal(out, in, len);
    free(out);
    free(in);
    in = repeat("=", 100000, "", &len);
    out = red_n(r, s, in, len, &olen);
    assert_int_equal(olen, len);
    assert_memory_equal(out, in, len);
    free(out);
    free(in);
    /* a huge value is one placeholder */
    in = repeat("x", 1 << 20, "", &len);
    char *kv = malloc(len + 16);
    memcpy(kv, "password=", 9);
    memcpy(kv + 9, in, len + 1);
    out = red_n(r, s, kv, len + 9, &olen);
    assert_string_equal(out, "password=<secret:1>");
    free(out);
    free(kv);
    free(in);
    redact_session_free(s);
    redactor_free(r);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const pats[] = {"custom=user=(\\w+)"};
    redactor *r = make(1, pats, 1);
    redact_session *s = redact_session_new();
    size_t n = 99;
    /* empty text, and NULL with length 0 */
    char *out = redact_text(r, s, "", 0, &n);
    assert_non_null(out);
    assert_string_equal(out, "");
    assert_int_equal(n, 0);
    free(out);
    out = redact_text(r, s, NULL, 0, NULL);
    assert_non_null(out);
    assert_string_equal(out, "");
    free(out);
    /* invalid UTF-8 is copied through; values around it are still found */
    out = red(r, s, "\xff\xfe password=\xc3\x28 user=bob\xff user=al\xc3 bob@example.com\x80");
    assert_string_equal(out, "\xff\xfe password=<secret:1> user=<custom:1>\xff user=<custom:2>\xc3 <email:1>\x80");
    free(out);
    /* valid UTF-8 stays valid around placeholders */
    out = red(r, s, "mot de passe \xc3\xa9t\xc3\xa9 password=\xc3\xa9t\xc3\xa9 user=\xc3\xa9");
    assert_string_equal(out, "mot de passe \xc3\xa9t\xc3\xa9 password=<secret:2> user=\xc3\xa9");
    free(out);
    /* NUL bytes: the length rules, not the NUL */
    static const char nul[] = "password=a\0b token=c\0";
    static const char want[] = "password=<secret:3>\0b token=<secret:4>\0";
    out = red_n(r, s, nul, sizeof nul - 1, &n);
    assert_int_equal(n, sizeof want - 1);
    assert_memory_equal(out, want, n);
    free(out);
    /* text not NUL-terminated: only len bytes are read */
    char buf[16];
    memcpy(buf, "token=abcdefghi", 15);
    buf[15] = 'Z';
    char *copy = malloc(15);
    memcpy(copy, buf, 15);
    out = red_n(r, s, copy, 15, &n);
    assert_string_equal(out, "token=<secret:5>");
    free(out);
    free(copy);
    redact_session_free(s);
    redactor_free(r);
}

static void test_placeholders_kept(void **state)
{
    (void)state;
    redactor *r = make(1, NULL, 0);
    static const row rows[] = {
        {"password=<secret:3> and <email:9> and <ip:12>", "password=<secret:3> and <email:9> and <ip:12>"},
        {"{\"token\": \"<secret:2>\"}", "{\"token\": \"<secret:2>\"}"},
        {"token=ab<secret:7>cd", "token=<secret:1><secret:7><secret:2>"},
        {"<custom:1> <a_b9:4294967295>", "<custom:1> <a_b9:4294967295>"},
        /* not placeholders: redacted or left as they are */
        {"password=<Secret:1>", "password=<secret:1>"},
        {"<memory:1024, vCores:1> <x:0> <:1>", "<memory:1024, vCores:1> <x:0> <:1>"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        expect(r, rows[i].in, rows[i].want);
    /* everything in the tables redacts to a text that redacts to itself */
    redactor_free(r);
}

typedef struct thread_arg {
    const redactor *r;
    char *out;
} thread_arg;

static void *thread_main(void *p)
{
    thread_arg *a = p;
    static const char text[] = "password=a user=bob bob@example.com 10.0.0.1 EMP12345 password=b";
    for (int i = 0; i < 200; i++) {
        redact_session *s = redact_session_new();
        char *out = redact_text(a->r, s, text, sizeof text - 1, NULL);
        redact_session_free(s);
        free(a->out);
        a->out = out;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    static const char *const pats[] = {"\\bEMP[0-9]{5}\\b", "user=user=(\\w+)"};
    redactor *r = make(1, pats, 2);
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){r, NULL};
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_non_null(args[i].out);
        assert_string_equal(args[i].out,
                            "password=<secret:1> user=<user:1> <email:1> <ip:1> <custom:1> password=<secret:2>");
        free(args[i].out);
    }
    redactor_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_ordinary_untouched),
        cmocka_unit_test(test_ip_addresses),
        cmocka_unit_test(test_stable_placeholders),
        cmocka_unit_test(test_many_values),
        cmocka_unit_test(test_extra_patterns),
        cmocka_unit_test(test_bad_patterns),
        cmocka_unit_test(test_fail_safe),
        cmocka_unit_test(test_adversarial),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_placeholders_kept),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
