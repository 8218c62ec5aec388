"""The README's settings table names every setting the binary reads, with the
same variable and flag: a setting added to src/config/config.c without its row
fails here."""
import os
import re
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


class SettingsTableTest(unittest.TestCase):
    def test_every_setting_has_its_row(self):
        code = read("src/config/config.c")
        settings = re.findall(r'\{"([a-z_.]+)", "(ANOMALOG_[A-Z_]+)", (?:"(--[a-z-]+)"|NULL)', code)
        self.assertGreater(len(settings), 30, "the settings table of config.c was not found")
        rows = {}
        for line in read("README.md").splitlines():
            m = re.match(r"\| `([a-z_.]+)` \| `?([A-Z_]+|\(none[^|]*)`? \| `?(--[a-z-]+|\(none[^|]*)`? \|", line)
            if m:
                rows[m.group(1)] = (m.group(2), m.group(3))
        for key, env, flag in settings:
            self.assertTrue(key in rows, "README settings table has no row for %s" % key)
            self.assertEqual(rows[key][0], env, key)
            if flag:
                self.assertEqual(rows[key][1], flag, key)


if __name__ == "__main__":
    unittest.main()
