"""The real binary against fake model servers that behave as the real ones do
at the edge of their context (tests/fake, POST /_server): Ollama (its OpenAI
endpoint ignores num_ctx and silently cuts the prompt's beginning at 2048 or
4096 tokens; /api/chat honours options.num_ctx), llama.cpp (400
exceed_context_size_error past n_ctx), vLLM (400 naming max_model_len), and
reasoning models (<think> blocks with braces, reasoning_content, Ollama's
thinking). The fake counts tokens conservatively for log text (2.3 bytes a
token). Each test shows, for a busy window whose digest fills its budget: no
prompt reaches the model cut, no window loses the model's answer to the
context, and reasoning is read apart and never stored.

Set MODEL_SERVERS_REPORT=1 to print each prompt's size: anomalog's estimate
(bytes / 2.3 + 8, what llm_fit starts from) beside what the fake counted."""
import json
import os
import random
import sqlite3
import string
import unittest

from harness import PG_URL, FakeLLM, ServerTest, ndjson, wait_for

T0 = 1795514400  # 2026-11-24T10:00:00Z
REASONING_MARK = "REASONING-MARK-7f3a"


def busy_window(t, rng, n_templates=300, n_errors=12, service="api"):
    """A window of n_templates distinct message templates (random words, so the
    miner keeps them apart), n_errors of them at ERROR: its digest fills the
    3,000-token budget, as the issue's busy window does."""
    rows = []
    for i in range(n_templates):
        words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randrange(5, 9))) for _ in range(4)]
        level = "error" if i < n_errors else "info"
        msg = "%s %s handler %s for %s finished step" % tuple(words)
        if level == "error":
            msg = "upstream %s failed: connection refused by %s pool %s" % tuple(words[:3])
        for k in range(2):
            rows.append({"ts": t + (i * 59.0 / n_templates) + k * 0.01, "service": service, "level": level,
                         "message": msg})
    return ndjson(rows)


def prompt_bytes(body):
    n = 0
    for m in body["messages"]:
        c = m["content"]
        n += len(c.encode()) if isinstance(c, str) else sum(len(p.get("text", "").encode()) for p in c)
    return n


class ModelServersTest(ServerTest):
    autostart = False

    def setUp(self):
        super().setUp()
        self.llm = FakeLLM().start()
        self.addCleanup(self.llm.stop)

    def emulate(self, **settings):
        self.llm._call("POST", "/_server", settings)

    def serve(self, *extra, model="llama3.2"):
        args = ["--llm-url", self.llm.url, "--llm-model", model, "--window", "1m", "--grace", "30s",
                "--llm-retries", "0", "--llm-timeout", "10s", "--analysis-retry-base", "1s", "--analysis-retry-max", "2s",
                "--analysis-schema-retries", "1", "--analysis-skip-quiet-windows", "false", "--analysis-on-model-failure", "baseline"]
        return self.start_server(args=args + list(extra))

    def analyse_busy_window(self, srv, seed=1):
        self.assertEqual(srv.ingest(busy_window(T0, random.Random(seed)))[0], 202)
        srv.request("POST", "/windows/flush")
        ws = wait_for(lambda: srv.get("/windows?status=analyzed")[1]["windows"], what="window analysed")
        return srv.get("/windows/%d" % ws[0]["id"])[1]

    def chats(self):
        return [r for r in self.llm.requests() if r["path"].endswith("/chat/completions") or r["path"] == "/api/chat"]

    def report(self, name, reqs):
        if not os.environ.get("MODEL_SERVERS_REPORT"):
            return
        for r in reqs:
            b = prompt_bytes(r["body"])
            e = r["emulation"]
            print("\n%-28s %-24s bytes=%6d estimate=%5d counted=%5d sent=%5d cut=%s rejected=%s num_ctx=%s "
                  "max_tokens=%s" % (name, r["path"], b, int(b / 2.3 + 0.999) + 8, e["tokens"], e["prompt_tokens"],
                                     e["cut"], e["rejected"], (r["body"].get("options") or {}).get("num_ctx"),
                                     r["body"].get("max_tokens", (r["body"].get("options") or {}).get("num_predict"))))

    def assert_model_read_it(self, w):
        """The model's answer is the window's: the analyst found the 12 error templates (24 lines)."""
        self.assertEqual((w["analyzer"], w["status"]), ("llm", "analyzed"), w.get("error"))
        self.assertIsNone(w["error"])
        spikes = [a for a in w["anomalies"] if a["type"] == "error_spike" and a["analyzer"] == "llm"]
        self.assertEqual(len(spikes), 1, w["anomalies"])
        self.assertIn("24 error lines", spikes[0]["summary"])

    def assert_no_reasoning_stored(self, srv):
        if PG_URL:
            return
        con = sqlite3.connect(srv.db)
        try:
            for (sql,) in con.execute("SELECT sql FROM sqlite_master WHERE type='table'"):
                pass
            for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
                for row in con.execute('SELECT * FROM "%s"' % name):
                    self.assertNotIn(REASONING_MARK, json.dumps(row, default=str), name)
        finally:
            con.close()

    # ---- Ollama ---------------------------------------------------------------------------------------

    def ollama_case(self, ctx):
        self.emulate(kind="ollama", ctx=ctx, model_ctx=131072, models=["llama3.2:latest"])
        srv = self.serve()
        w = self.analyse_busy_window(srv)
        reqs = self.chats()
        self.report("ollama ctx=%d" % ctx, reqs)
        self.assertEqual(len(reqs), 1, [r["emulation"] for r in reqs])
        r = reqs[0]
        # the native API, whose num_ctx holds, sized to the prompt and its answer
        self.assertEqual(r["path"], "/api/chat")
        e = r["emulation"]
        self.assertFalse(e["cut"], e)
        self.assertGreater(e["tokens"], 4096)  # over both Ollama defaults: the OpenAI endpoint would have cut it
        opts = r["body"]["options"]
        self.assertGreaterEqual(opts["num_ctx"], e["tokens"] + opts["num_predict"])
        self.assertEqual(opts["num_predict"], 1024)
        self.assertNotIn("think", r["body"])  # llama3.2 does not think: Ollama refuses the switch for it
        self.assertEqual(r["body"]["format"]["type"], "object")  # the schema itself
        self.assertEqual(e["finish_reason"], "stop")
        self.assert_model_read_it(w)
        self.assertEqual(w["prompt_tokens"], e["prompt_tokens"])

    def test_ollama_2048_native_api_sized_to_the_prompt(self):
        self.ollama_case(2048)

    def test_ollama_4096_native_api_sized_to_the_prompt(self):
        self.ollama_case(4096)

    def test_ollama_behind_a_proxy_cut_is_detected_and_sent_again_shorter(self):
        # only /v1 passes: anomalog cannot ask the server, so it learns the context from the cut
        self.emulate(kind="ollama", ctx=2048, native=False, models=["llama3.2:latest"])
        srv = self.serve()
        w = self.analyse_busy_window(srv)
        reqs = self.chats()
        self.report("ollama proxy ctx=2048", reqs)
        self.assertEqual([r["emulation"]["cut"] for r in reqs], [True, False])
        self.assertEqual(reqs[1]["emulation"]["prompt_tokens"], reqs[1]["emulation"]["tokens"])
        self.assertLessEqual(reqs[1]["emulation"]["tokens"] + reqs[1]["body"]["max_tokens"], 2048)
        self.assertIn("left out to fit the model's context", reqs[1]["body"]["messages"][1]["content"])
        # the stored prompt is the one the model read whole
        self.assertEqual(w["prompt"]["user"], reqs[1]["body"]["messages"][1]["content"])
        self.assertEqual(w["analyzer"], "llm")
        self.assertIsNone(w["error"])
        self.assertTrue([a for a in w["anomalies"] if a["type"] == "error_spike" and a["analyzer"] == "llm"])
        # the next window is planned within the learned context: no cut at all
        self.assertEqual(srv.ingest(busy_window(T0 + 60, random.Random(2)))[0], 202)
        srv.request("POST", "/windows/flush")
        wait_for(lambda: len(srv.get("/windows?status=analyzed")[1]["windows"]) == 2, what="second window")
        self.assertEqual([r["emulation"]["cut"] for r in self.chats()], [True, False, False])

    def test_ollama_thinking_model_is_asked_not_to_think(self):
        self.emulate(kind="ollama", ctx=4096, models=["qwen3:latest"], reasoning="field")
        srv = self.serve(model="qwen3")
        w = self.analyse_busy_window(srv)
        reqs = self.chats()
        self.assertEqual(len(reqs), 1)
        self.assertIs(reqs[0]["body"]["think"], False)
        self.assert_model_read_it(w)
        self.assert_no_reasoning_stored(srv)

    # ---- llama.cpp --------------------------------------------------------------------------------------

    def test_llamacpp_n_ctx_from_props_no_refusal(self):
        self.emulate(kind="llamacpp", ctx=4096)
        srv = self.serve()
        w = self.analyse_busy_window(srv)
        reqs = self.chats()
        self.report("llama.cpp n_ctx=4096", reqs)
        self.assertEqual(len(reqs), 1, [r["emulation"] for r in reqs])
        e = reqs[0]["emulation"]
        self.assertFalse(e["rejected"], e)
        self.assertLessEqual(e["tokens"] + reqs[0]["body"]["max_tokens"], 4096)
        self.assertEqual(e["finish_reason"], "stop")
        self.assert_model_read_it(w)

    def test_llamacpp_refusal_teaches_the_context(self):
        # a wrong llm.context_tokens: the server's 400 names n_ctx, and the window is sent again within it
        self.emulate(kind="llamacpp", ctx=2048)
        srv = self.serve("--llm-context-tokens", "16384")
        w = self.analyse_busy_window(srv)
        reqs = self.chats()
        self.report("llama.cpp n_ctx=2048 (told 16384)", reqs)
        self.assertEqual([r["emulation"]["rejected"] for r in reqs], [True, False])
        self.assertLessEqual(reqs[1]["emulation"]["tokens"] + reqs[1]["body"]["max_tokens"], 2048)
        self.assertEqual(w["analyzer"], "llm")
        self.assertIsNone(w["error"])

    def test_denser_tokenizer_is_calibrated_from_usage(self):
        # the server counts 1.9 bytes a token where anomalog starts at 2.3: the first busy window
        # leaves the answer less room than planned; its usage teaches the ratio, the next fits
        self.emulate(kind="llamacpp", ctx=4096, bytes_per_token=1.9)
        srv = self.serve()
        self.analyse_busy_window(srv)
        self.assertEqual(srv.ingest(busy_window(T0 + 60, random.Random(2)))[0], 202)
        srv.request("POST", "/windows/flush")
        wait_for(lambda: len(srv.get("/windows?status=analyzed")[1]["windows"]) == 2, what="second window")
        reqs = self.chats()
        self.report("llama.cpp n_ctx=4096 1.9 B/tok", reqs)
        self.assertEqual([r["emulation"]["rejected"] for r in reqs], [False, False])
        first, second = reqs[0], reqs[1]
        self.assertGreater(first["emulation"]["tokens"] + first["body"]["max_tokens"], 4096)
        self.assertLessEqual(second["emulation"]["tokens"] + second["body"]["max_tokens"], 4096)
        for w in srv.get("/windows")[1]["windows"]:
            self.assertEqual(w["analyzer"], "llm")

    def test_answer_out_of_room_gets_more(self):
        # an answer room far too small (llm.max_tokens 64): stopped for length, sent again with more room
        self.emulate(kind="vllm", ctx=8192, models=["llama3.2"])
        srv = self.serve("--llm-max-tokens", "64")
        w = self.analyse_busy_window(srv)
        reqs = self.chats()
        self.report("vllm max_tokens 64", reqs)
        self.assertEqual([r["body"]["max_tokens"] for r in reqs], [64, 256, 1024][:len(reqs)])
        self.assertEqual(reqs[0]["emulation"]["finish_reason"], "length")
        self.assertEqual(reqs[-1]["emulation"]["finish_reason"], "stop")
        self.assert_model_read_it(w)

    # ---- vLLM -------------------------------------------------------------------------------------------

    def test_vllm_max_model_len_from_models_no_refusal(self):
        self.emulate(kind="vllm", ctx=4096, models=["llama3.2"])
        srv = self.serve()
        w = self.analyse_busy_window(srv)
        reqs = self.chats()
        self.report("vllm max_model_len=4096", reqs)
        self.assertEqual(len(reqs), 1, [r["emulation"] for r in reqs])
        e = reqs[0]["emulation"]
        self.assertFalse(e["rejected"], e)
        self.assertLessEqual(e["tokens"] + reqs[0]["body"]["max_tokens"], 4096)
        self.assert_model_read_it(w)

    # ---- reasoning models -------------------------------------------------------------------------------

    def test_reasoning_in_think_blocks_is_read_and_never_stored(self):
        self.emulate(kind="llamacpp", ctx=8192, reasoning="think")
        srv = self.serve()
        w = self.analyse_busy_window(srv)
        reqs = self.chats()
        self.assertEqual(len(reqs), 1)
        self.assertEqual(reqs[0]["body"]["chat_template_kwargs"], {"enable_thinking": False})
        self.assert_model_read_it(w)
        self.assertNotIn(REASONING_MARK, json.dumps(w))
        self.assert_no_reasoning_stored(srv)

    def test_reasoning_content_field_is_read_apart_and_never_stored(self):
        self.emulate(kind="vllm", ctx=8192, models=["llama3.2"], reasoning="field")
        srv = self.serve()
        w = self.analyse_busy_window(srv)
        self.assert_model_read_it(w)
        self.assertNotIn(REASONING_MARK, json.dumps(w))
        self.assertNotIn(REASONING_MARK, json.dumps(srv.get("/anomalies")[1]))
        self.assert_no_reasoning_stored(srv)


if __name__ == "__main__":
    unittest.main()
