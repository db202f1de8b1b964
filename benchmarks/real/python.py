"""benchmarks/real/python.py SCALE — scripts/bench_real's Python workload (run with
PYTHONMALLOC=malloc, so every object comes from the allocator under test): dicts, lists,
strings, small objects and JSON round trips. Prints checksums that must not depend on the
allocator."""
import json
import random
import sys

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def n(x):
    return int(x * scale)


rng = random.Random(42)

# Records as dicts, grouped and sorted.
recs = [{"id": i, "name": "user%06d" % rng.randrange(10**6), "score": rng.random(),
         "tags": [rng.randrange(50) for _ in range(rng.randrange(1, 6))]} for i in range(n(90000))]
groups = {}
for r in recs:
    groups.setdefault(r["name"][-2:], []).append(r)
best = sorted((max(g, key=lambda r: r["score"])["id"] for g in groups.values()))
print("records", len(recs), len(groups), sum(best) % 1000003)
del recs, groups

# Small objects with attributes, linked into lists and dropped.
class Node:
    __slots__ = ("val", "next")

    def __init__(self, val, nxt):
        self.val, self.next = val, nxt


total = 0
for _ in range(n(25)):
    head = None
    for i in range(10000):
        head = Node(i, head)
    while head is not None:
        total += head.val & 7
        head = head.next
print("nodes", total)

# Strings: split, join, format, replace.
words = ["".join(rng.choice("abcdefgh") for _ in range(rng.randrange(2, 10))) for _ in range(n(80000))]
text = " ".join(words)
freq = {}
for w in text.split():
    freq[w] = freq.get(w, 0) + 1
lines = ["%s=%d" % (k, v) for k, v in sorted(freq.items())]
print("strings", len(text), len(freq), len("\n".join(lines).replace("a", "AA")))

# JSON round trips of nested structures.
doc = {"k%d" % i: {"v": list(range(i % 30)), "s": "x" * (i % 50), "f": i / 7} for i in range(n(12000))}
for _ in range(5):
    doc = json.loads(json.dumps(doc, sort_keys=True))
print("json", len(json.dumps(doc, sort_keys=True)))

# Binary trees as tuples.
def make(d):
    return (make(d - 1), make(d - 1)) if d else ()


def check(t):
    return 1 + check(t[0]) + check(t[1]) if t else 1


print("trees", sum(check(make(12)) for _ in range(n(20))))
