#!/usr/bin/env python3
"""Run the kmsd Python integration suite.

    KMSD_BIN=build/kmsd python3 tests/integration/python/run.py [-k PATTERN] [-f]

Equivalent to:
    python3 -m unittest discover -s tests/integration/python -v
Exits non-zero when any test fails or errors.
"""

import argparse
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", dest="patterns", action="append", default=None,
                    help="only run tests whose name matches this substring/glob (repeatable)")
    ap.add_argument("-f", "--failfast", action="store_true", help="stop on first failure")
    ap.add_argument("-p", "--pattern", default="test_*.py", help="file pattern for discovery")
    args = ap.parse_args(argv)

    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [p if "*" in p else "*%s*" % p for p in args.patterns]
    suite = loader.discover(start_dir=HERE, pattern=args.pattern, top_level_dir=HERE)
    runner = unittest.TextTestRunner(verbosity=2, failfast=args.failfast)
    result = runner.run(suite)
    return 0 if result.wasSuccessful() and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
