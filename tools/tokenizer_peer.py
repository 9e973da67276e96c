#!/usr/bin/env python3
"""The `tokenizers` library's encode speed on a text file, to set beside `r1wb bench tokenize` on the same text.

Usage: python3 tools/tokenizer_peer.py TOKENIZER_JSON TEXT_FILE
Prints one JSON object: MB/s encoding the whole text as one string and as a batch of lines, and token counts.
"""
import json, sys, time

from tokenizers import Tokenizer, __version__

tok = Tokenizer.from_file(sys.argv[1])
text = open(sys.argv[2], encoding="utf-8", newline="").read()  # keep \r\n as written
mb = len(text.encode("utf-8")) / 1e6
res = {"tokenizers": __version__, "megabytes": round(mb, 3)}
best = float("inf")
for _ in range(3):
    t = time.perf_counter()
    ids = tok.encode(text, add_special_tokens=False).ids
    best = min(best, time.perf_counter() - t)
res["one_string_MBs"] = round(mb / best, 2)
res["tokens"] = len(ids)
lines = text.splitlines(keepends=True)
best = float("inf")
for _ in range(3):
    t = time.perf_counter()
    tok.encode_batch(lines, add_special_tokens=False)
    best = min(best, time.perf_counter() - t)
res["batch_of_lines_MBs"] = round(mb / best, 2)
print(json.dumps(res))
