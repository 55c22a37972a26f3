#!/usr/bin/python3
"""Verifies the DKIM signatures of messages with dkimpy (Debian's
python3-dkim), an implementation nobody in this project wrote.

    verify.py --txt NAME=RECORD [--txt ...] FILE...

Each --txt serves one DNS TXT record through dkimpy's `dnsfunc` hook (the
selector's `<selector>._domainkey.<domain>`), so nothing is looked up on the
network. Prints `pass FILE` or `fail FILE: reason` for each file; exits 0 when
every file has a signature that verifies, 1 otherwise.
"""
import argparse
import logging
import sys

import dkim


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--txt", action="append", default=[], metavar="NAME=RECORD")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    records = {}
    for entry in args.txt:
        name, _, value = entry.partition("=")
        records[name.rstrip(".").lower()] = value

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        return records.get(name.rstrip(".").lower(), "").encode()

    failed = 0
    for path in args.files:
        with open(path, "rb") as f:
            message = f.read()
        log = logging.getLogger("dkim-verify")
        try:
            d = dkim.DKIM(message, logger=log)
            count = message.count(b"\nDKIM-Signature:") + message.startswith(b"DKIM-Signature:")
            if count == 0:
                raise dkim.ValidationError("no DKIM-Signature field")
            ok = all(d.verify(idx=i, dnsfunc=dnsfunc) for i in range(count))
            if not ok:
                raise dkim.ValidationError("signature did not verify")
            print(f"pass {path}")
        except Exception as e:  # dkimpy raises several kinds
            failed += 1
            print(f"fail {path}: {e}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
