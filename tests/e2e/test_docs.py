"""The README and docs/ say true things about the repository, checked on every run:

- every relative link points at a file that exists, and every #anchor at a
  heading of that file;
- every repository path the docs name in backticks exists, and every file the
  layout of docs/design.md lists sits in the folder it is listed under;
- every function docs/design.md names as `name()` is defined in src/;
- docs/configuration.md has a row for every setting of the binary's settings
  table (same variable and flag), names every variable and file key the
  configuration reads, and names none it does not; every ANOMALOG_ variable
  named anywhere in the docs is read by the binary or by the build and tests;
- every path of openapi/openapi.yaml is in docs/api.md's endpoint table, and
  every endpoint there is in openapi.yaml;
- every metric the binary exports is described in docs/operations.md, and
  every metric the docs name is exported.
A rename in src/ without its docs, or a doc naming what is gone, fails here."""
import glob
import os
import re
import unittest

ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DOCS = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
TOP = ("src/", "include/", "tests/", "sql/", "bench/", "docker/", "openapi/", "scripts/", "docs/", "deploy/",
       "cmake/", ".ci/")
TOP_FILES = {"CMakeLists.txt", "README.md", "LICENSE", "dev"}


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def prose(text):
    """The text outside fenced code blocks."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation but - and _ dropped, spaces to -."""
    s = re.sub(r"[`*]", "", heading.strip().lower())
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path):
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", prose(read(path)), re.M)}


def src_files(pattern="**/*.c"):
    return glob.glob(os.path.join(ROOT, "src", pattern), recursive=True)


def src_text():
    """Every .c file of src/, one text."""
    return "\n".join(read(os.path.relpath(p, ROOT)) for p in src_files())


def config_source():
    """The folder holding the settings table, wherever src/ keeps it: its .c files, one text."""
    for p in src_files():
        if re.search(r"static const setting settings\[\]", read(os.path.relpath(p, ROOT))):
            return "\n".join(read(os.path.relpath(q, ROOT)) for q in sorted(glob.glob(os.path.join(os.path.dirname(p), "*.c"))))
    raise AssertionError("no file in src/ holds `static const setting settings[]`")


class LinksTest(unittest.TestCase):
    def test_code_fences_close(self):
        """An unclosed ``` would hide the rest of a page from every check below."""
        for doc in DOCS:
            fences = re.findall(r"^```", read(doc), re.M)
            self.assertEqual(len(fences) % 2, 0, "%s: a code block is not closed" % doc)

    def test_relative_links_and_anchors(self):
        checked = 0
        for doc in DOCS:
            base = os.path.dirname(doc)
            for m in re.finditer(r"\]\(([^)\s]+)\)", prose(read(doc))):
                target = m.group(1)
                if re.match(r"[a-z]+:", target):
                    continue
                path, _, anchor = target.partition("#")
                full = os.path.normpath(os.path.join(base, path)) if path else doc
                self.assertTrue(os.path.exists(os.path.join(ROOT, full)), "%s links to %s: no such file" % (doc, target))
                self.assertTrue(full == "." or not full.startswith(".."), "%s links outside the repository: %s" %
                                (doc, target))
                if anchor:
                    self.assertTrue(full.endswith(".md"), "%s: anchor into a non-Markdown file: %s" % (doc, target))
                    self.assertTrue(anchor in anchors(full), "%s links to %s: no such heading" % (doc, target))
                checked += 1
        self.assertGreater(checked, 20)

    def test_repository_paths_exist(self):
        checked = 0
        for doc in DOCS:
            for m in re.finditer(r"`([^`\s]+)`", read(doc)):
                p = m.group(1).rstrip(".,:;")
                if not (p.startswith(TOP) or p in TOP_FILES) or re.search(r"[<>*{}$]|\.\.\.|…", p):
                    continue
                p = p.split("#")[0]
                self.assertTrue(os.path.exists(os.path.join(ROOT, p)), "%s names %s: no such path" % (doc, p))
                checked += 1
        self.assertGreater(checked, 20)

    def test_design_layout_lists_real_files(self):
        """In the layout block, each file named on a line exists under the folder that line describes."""
        text = read("docs/design.md")
        block = re.search(r"^## Layout\n+```\n(.*?)^```", text, re.M | re.S).group(1)
        top, here, checked = None, None, 0
        for line in block.splitlines():
            m = re.match(r"^(\S+)\s", line + " ")
            if m:  # a top-level entry
                top = here = m.group(1)
                self.assertTrue(os.path.exists(os.path.join(ROOT, top)), "layout names %s: no such path" % top)
            else:
                m = re.match(r"^  (\S+/|\S+\.c)\s", line)
                if m:  # an entry inside the last top-level folder
                    here = os.path.join(top, m.group(1))
                    self.assertTrue(os.path.exists(os.path.join(ROOT, here)), "layout names %s: no such path" % here)
            folder = here if here.endswith("/") else os.path.dirname(here) or "."
            for f in re.findall(r"\b([\w-]+\.(?:c|h|py|sh|sql|mjs|cmake|html|js|css|yaml|json))\b", line):
                found = glob.glob(os.path.join(ROOT, folder, "**", f), recursive=True)
                self.assertTrue(found, "layout lists %s under %s: not there" % (f, folder))
                checked += 1
        self.assertGreater(checked, 40)

    def test_design_functions_exist(self):
        code = src_text()
        names = set(re.findall(r"`([A-Za-z_]\w*)\(\)`", read("docs/design.md")))
        self.assertGreater(len(names), 50)
        for name in sorted(names):
            self.assertTrue(re.search(r"(?m)^[a-z][\w \*]*\b%s\(" % name, code),
                            "docs/design.md names %s(), which no file in src/ defines" % name)


class ConfigurationTest(unittest.TestCase):
    def setUp(self):
        self.code = config_source()
        self.doc = read("docs/configuration.md")
        self.settings = re.findall(r'\{"([a-z_.]+)", "(ANOMALOG_[A-Z_]+)", (?:"(--[a-z-]+)"|NULL)', self.code)
        self.aliases = re.findall(r'\{"(ANOMALOG_[A-Z_]+)", (?:"(--[a-z-]+)"|NULL), "([a-z_.]+)"\}', self.code)
        self.assertGreater(len(self.settings), 30, "the settings table was not found")
        self.assertGreater(len(self.aliases), 10, "the table of old names was not found")

    def test_every_setting_has_its_row(self):
        rows = {}
        for line in self.doc.splitlines():
            m = re.match(r"\| `([a-z_.]+)` \| `?([A-Z_]+|\(none[^|]*)`? \| `?(--[a-z-]+|\(none[^|]*)`? \|", line)
            if m:
                rows[m.group(1)] = (m.group(2), m.group(3))
        for key, env, flag in self.settings:
            self.assertTrue(key in rows, "docs/configuration.md has no row for %s" % key)
            self.assertEqual(rows[key][0], env, key)
            self.assertEqual(rows[key][1], flag or rows[key][1], key)
            if not flag:
                self.assertTrue(rows[key][1].startswith("(none"), "%s has no flag, the docs give %s" %
                                (key, rows[key][1]))
        known = {k for k, _, _ in self.settings} | self.structured_keys()
        for key in rows:
            self.assertTrue(key in known, "docs/configuration.md has a row for %s, which the binary does not read" % key)

    def structured_keys(self):
        return set(re.findall(r'strcmp\(key, "([a-z_.]+)"\)', self.code))

    def test_structured_keys_and_old_names_are_named(self):
        keys = self.structured_keys()
        self.assertTrue({"routes", "destinations", "auth.tokens", "services", "redaction.patterns"} <= keys, keys)
        for key in keys:
            self.assertTrue("`%s`" % key in self.doc, "docs/configuration.md does not name the file key %s" % key)
        for env, flag, key in self.aliases:
            row = re.search(r"^\| `%s` \| (`%s`|\(none\)) \| `%s` \|$" % (env, flag or "", re.escape(key)), self.doc,
                            re.M)
            self.assertTrue(row, "docs/configuration.md's old names lack %s %s -> %s" % (env, flag, key))

    def test_variables_both_ways(self):
        binary = set(re.findall(r'"(ANOMALOG_[A-Z0-9_]+)"', self.code))
        named = set(re.findall(r"\b(ANOMALOG_[A-Z0-9_]+)\b", self.doc)) - {"ANOMALOG_A_B_C"}
        self.assertEqual(sorted(named - binary), [], "named in docs/configuration.md, not read by the binary")
        self.assertEqual(sorted(binary - named), [], "read by the binary, not in docs/configuration.md")
        flags = {f for _, _, f in self.settings if f} | {f for _, f, _ in self.aliases if f}
        for f in re.findall(r"^\| `[a-z_.]+` \| [^|]* \| `(--[a-z-]+)` \|", self.doc, re.M):
            self.assertTrue(f in flags, f)

    def test_variables_elsewhere_are_real(self):
        """A variable named in any doc is one the binary reads, or one the build and tests read."""
        others = ""
        for pattern in ("tests/**/*.py", "tests/**/*.sh", "tests/**/*.txt", "CMakeLists.txt", "cmake/*", "dev",
                        ".ci/*", "bench/**/*", "scripts/*", "docker/*"):
            for p in glob.glob(os.path.join(ROOT, pattern), recursive=True):
                if os.path.isfile(p):
                    with open(p, encoding="utf-8", errors="replace") as f:
                        others += f.read()
        known = set(re.findall(r"ANOMALOG_[A-Z0-9_]+", self.code + others))
        for doc in DOCS:
            for v in set(re.findall(r"\b(ANOMALOG_[A-Z0-9_]+)\b", read(doc))) - {"ANOMALOG_A_B_C"}:
                self.assertTrue(v in known, "%s names %s, which nothing reads" % (doc, v))


class ApiTest(unittest.TestCase):
    def test_openapi_paths_in_api_md(self):
        spec = read("openapi/openapi.yaml")
        paths = re.findall(r"^  (/[^:\s]*):\s*$", spec, re.M)
        self.assertGreater(len(paths), 15)
        table = {}
        for line in read("docs/api.md").splitlines():
            m = re.match(r"^\| ((?:`[A-Z]+ /[^`]*`(?:, )?)+) \|", line)
            if m:
                for method, path in re.findall(r"`([A-Z]+) (/[^`]*)`", m.group(1)):
                    table.setdefault(path, set()).add(method)
        for p in paths:
            self.assertTrue(p in table, "openapi.yaml has %s; docs/api.md's endpoint table does not" % p)
            for method in re.findall(r"^    (get|post|put|delete|patch):", spec.split("\n  %s:" % p, 1)[1]
                                     .split("\n  /", 1)[0], re.M):
                self.assertTrue(method.upper() in table[p], "docs/api.md lacks %s %s" % (method.upper(), p))
        for p in table:
            self.assertTrue(p in paths, "docs/api.md lists %s, which openapi.yaml does not have" % p)


class MetricsTest(unittest.TestCase):
    def test_metrics_both_ways(self):
        code = src_text()
        exported = set(re.findall(r'"(anomalog_[a-z_]+?)(?:_bucket|_sum|_count)?[{" ]', code))
        self.assertGreater(len(exported), 25)
        ops = read("docs/operations.md")
        for m in sorted(exported):
            self.assertTrue("`%s`" % m in ops, "%s is exported but not described in docs/operations.md" % m)
        for doc in DOCS:
            for m in set(re.findall(r"`(anomalog_[a-z_]+)`", read(doc))):
                self.assertTrue(m in exported, "%s names the metric %s, which the binary does not export" % (doc, m))


if __name__ == "__main__":
    unittest.main()
