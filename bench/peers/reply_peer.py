"""PyPI's email-reply-parser (zapier's port of GitHub's parser) as a peer
for bench/reply: reads a JSON array of {"id", "text"} on stdin, writes a
JSON object {id: reply} on stdout. The wheel beside this file is imported
directly (a wheel is a zip), so nothing is installed."""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "email_reply_parser-0.5.12-py3-none-any.whl"))

from email_reply_parser import EmailReplyParser  # noqa: E402

cases = json.load(sys.stdin)
out = {}
for case in cases:
    try:
        out[case["id"]] = EmailReplyParser.parse_reply(case["text"])
    except Exception as e:  # a crash is an answer too: scored as wrong
        out[case["id"]] = "<error: %s>" % e
json.dump(out, sys.stdout)
