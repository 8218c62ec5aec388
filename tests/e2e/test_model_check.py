"""`anomalog model check` against the fake model servers of tests/fake (POST
/_server): what it prints for Ollama (model present or not, with the pull
command; thinking models), llama.cpp, vLLM, a plain OpenAI-compatible server,
a server that does not honour the schema, a slow one (latency per thousand
prompt tokens), and no server at all; the exit status says whether analysis
can use it."""
import json
import socket
import unittest

from harness import FakeLLM, run_cli


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ModelCheckTest(unittest.TestCase):
    def setUp(self):
        self.llm = FakeLLM().start()
        self.addCleanup(self.llm.stop)

    def check(self, *args, model="llama3.2", url=None, text=False):
        argv = ["model", "check", "--llm-url", url or self.llm.url, "--llm-model", model, "--llm-retries", "0",
                "--llm-timeout", "10s"] + list(args)
        if not text:
            argv.append("--json")
        rc, out, err = run_cli(argv, timeout=60)
        return rc, (out if text else json.loads(out)), err

    def test_ollama_present(self):
        self.llm._call("POST", "/_server", {"kind": "ollama", "ctx": 2048, "model_ctx": 131072,
                                            "models": ["llama3.2:latest"], "loaded": True})
        rc, r, err = self.check()
        self.assertEqual(rc, 0, (r, err))
        self.assertEqual((r["server"], r["version"], r["reachable"], r["model_present"]),
                         ("ollama", "0.12.3", True, True))
        self.assertEqual(r["context"], {"model": 131072, "server": 2048, "used": 131072})
        self.assertEqual((r["json_schema"], r["answer_valid"], r["reasoning"], r["usable"]), (True, True, False, True))
        s = r["settings"]
        self.assertEqual((s["api"], s["endpoint"], s["max_tokens"], s["digest_budget"], s["think_off"]),
                         ("ollama", "/api/chat", 1024, 3000, False))
        self.assertEqual(s["num_ctx_full_prompt"], 8192)  # a full digest's prompt is over 4096 tokens
        # the sample went to the native API, whole, with num_ctx sized to it
        req = self.llm.requests()[-1]
        self.assertEqual(req["path"], "/api/chat")
        self.assertFalse(req["emulation"]["cut"])
        self.assertEqual(req["emulation"]["tokens"], r["sample"]["prompt_tokens"])
        self.assertGreaterEqual(req["body"]["options"]["num_ctx"], req["emulation"]["tokens"] + 1024)
        rc, text, _ = self.check(text=True)
        self.assertEqual(rc, 0)
        self.assertIn("model          llama3.2: present", text)
        self.assertIn("POST /api/chat", text)
        self.assertIn("verdict        usable", text)

    def test_ollama_model_missing_gives_the_pull_command(self):
        self.llm._call("POST", "/_server", {"kind": "ollama", "models": ["llama3.2:latest"]})
        rc, r, _ = self.check(model="qwen3:8b")
        self.assertEqual(rc, 1)
        self.assertEqual((r["model_present"], r["pull_command"], r["usable"]), (False, "ollama pull qwen3:8b", False))
        self.assertEqual(self.llm.chat_count(), 0)  # no chat request for a model that is not there
        rc, text, _ = self.check(model="qwen3:8b", text=True)
        self.assertIn("pull it: ollama pull qwen3:8b", text)
        self.assertIn("NOT usable", text)

    def test_ollama_thinking_model(self):
        self.llm._call("POST", "/_server", {"kind": "ollama", "models": ["qwen3:latest"], "reasoning": "think"})
        rc, r, _ = self.check(model="qwen3")
        self.assertEqual(rc, 0, r)
        self.assertEqual((r["reasoning"], r["settings"]["think_off"], r["json_schema"]), (True, True, True))
        self.assertIs(self.llm.requests()[-1]["body"]["think"], False)

    def test_llamacpp(self):
        self.llm._call("POST", "/_server", {"kind": "llamacpp", "ctx": 4096, "reasoning": "think"})
        rc, r, _ = self.check()
        self.assertEqual(rc, 0, r)
        self.assertEqual((r["server"], r["context"]["server"], r["context"]["used"]), ("llama.cpp", 4096, 4096))
        self.assertEqual(r["reasoning"], True)  # <think> blocks were read apart
        self.assertEqual(r["json_schema"], True)  # what is left once the reasoning is out is bare JSON
        self.assertTrue(r["answer_valid"])
        s = r["settings"]
        self.assertEqual((s["endpoint"], s["context"], s["max_tokens"]), ("/chat/completions", 4096, 1024))
        self.assertLess(s["digest_budget"], 3000)  # what 4096 tokens leave beside the system prompt and answer
        e = self.llm.requests()[-1]["emulation"]
        self.assertFalse(e["rejected"])
        self.assertLessEqual(e["tokens"] + 1024, 4096)

    def test_vllm(self):
        self.llm._call("POST", "/_server", {"kind": "vllm", "ctx": 32768, "models": ["llama3.2"]})
        rc, r, _ = self.check()
        self.assertEqual(rc, 0, r)
        self.assertEqual((r["server"], r["context"]["server"], r["model_present"]), ("vllm", 32768, True))
        rc, r, _ = self.check(model="other")
        self.assertEqual((rc, r["model_present"]), (1, False))
        self.assertIsNone(r["pull_command"])

    def test_unknown_server_without_schema(self):
        # a plain OpenAI-compatible server whose model wraps its JSON in prose
        self.llm.script([], then="prose")
        rc, r, _ = self.check(model="fake")
        self.assertEqual(rc, 0, r)
        self.assertEqual((r["server"], r["context"]["used"], r["json_schema"], r["answer_valid"]),
                         ("openai-compatible", None, False, True))
        rc, text, _ = self.check(model="fake", text=True)
        self.assertIn("not honoured (the answer was recovered from prose)", text)

    def test_latency_per_thousand_prompt_tokens(self):
        self.llm.script([], then={"mode": "slow", "delay_ms": 400})
        rc, r, _ = self.check(model="fake")
        self.assertEqual(rc, 0, r)
        s = r["sample"]
        self.assertGreaterEqual(s["latency_ms"], 400)
        want = s["latency_ms"] * 1000.0 / s["prompt_tokens"]
        self.assertAlmostEqual(s["latency_ms_per_1k_prompt_tokens"], want, delta=1)

    def test_unreachable(self):
        rc, r, _ = self.check(url="http://127.0.0.1:%d/v1" % free_port())
        self.assertEqual(rc, 1)
        self.assertEqual((r["reachable"], r["usable"]), (False, False))
        self.assertIn("onnect", r["error"])
        rc, text, _ = self.check(url="http://127.0.0.1:%d/v1" % free_port(), text=True)
        self.assertIn("reachable      no", text)

    def test_bad_arguments(self):
        rc, _, err = run_cli(["model"])
        self.assertEqual(rc, 2)
        self.assertIn("anomalog model check", err)
        rc, _, err = run_cli(["model", "check", "--bogus"])
        self.assertEqual(rc, 2)
        rc, _, err = run_cli(["model", "check", "--llm-url", "none"])
        self.assertEqual(rc, 2)
        self.assertIn("no model configured", err)


if __name__ == "__main__":
    unittest.main()
