#!/usr/bin/env python3
"""Prints `r1wb bench ops` JSON (file argument) as a table."""
import json, sys
d = json.load(open(sys.argv[1]))
for k, v in d.items():
    if not isinstance(v, dict):
        print(k, v)
        continue
    print("==", k, {kk: vv for kk, vv in v.items() if kk != "ops"})
    for o in v["ops"]:
        tf = ("%.0f TF/s" % o["TFLOPs"]) if "TFLOPs" in o else ""
        print("  %-40s %9.1f us %7.0f GB/s  bw %.2f  %s" % (o["op"], o["us"], o["GBs"], o["bandwidth_fraction"], tf))
