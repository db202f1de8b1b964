#!/usr/bin/env python3
"""Generate scripts/bench_real's input files (standard library only).

    gen_inputs.py SCALE OUTDIR

Writes into OUTDIR, the same bytes for the same SCALE on every machine (fixed seeds):
    sqlite.sql  tables filled by single-row INSERTs, indexes, joins, aggregates, updates
    z3.smt2     job-shop scheduling instances, each minimised (z3's optimiser)
    gs.ps       PostScript pages of curves, fills, clipped text and a recursive fractal
    gcc.c       a C file of many functions (loops, switches, structs, inline helpers)
    git.fi      a git fast-import stream: a history of edits to a few hundred files
    redis.resp  RESP commands for redis-cli --pipe: strings, hashes, lists, sorted sets of
                mixed sizes, then deletes (a fragmented heap for the benchmark to run on)
SCALE (1 = the default run, <1 for --quick) multiplies the amount of work in each.
"""
import os
import random
import sys


def scaled(x, scale, least=1):
    return max(least, int(x * scale))


def gen_sqlite(rng, scale):
    cities = ["city%02d" % i for i in range(40)]
    items = ["item-%03d" % i for i in range(300)]
    n_users, n_orders = scaled(50000, scale), scaled(120000, scale)
    out = ["PRAGMA cache_size = -32768;",
           "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, email TEXT, age INT, city TEXT, bio TEXT);",
           "CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INT, item TEXT, qty INT, price INT, day INT);",
           "BEGIN;"]
    for i in range(1, n_users + 1):
        name = "".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randrange(4, 12)))
        bio = " ".join(rng.choice(items) for _ in range(rng.randrange(0, 12)))
        out.append("INSERT INTO users VALUES(%d,'%s','%s@example.org',%d,'%s','%s');"
                   % (i, name, name, rng.randrange(18, 90), rng.choice(cities), bio))
    for i in range(1, n_orders + 1):
        out.append("INSERT INTO orders VALUES(%d,%d,'%s',%d,%d,%d);"
                   % (i, rng.randrange(1, n_users + 1), rng.choice(items), rng.randrange(1, 9),
                      rng.randrange(100, 100000), rng.randrange(0, 365)))
    out += [
        "COMMIT;",
        "CREATE INDEX users_city ON users(city, age);",
        "CREATE INDEX orders_user ON orders(user_id, day);",
        "CREATE INDEX orders_item ON orders(item);",
        "SELECT city, count(*), sum(age), max(length(bio)) FROM users GROUP BY city ORDER BY city;",
        "SELECT u.name, count(*), sum(o.qty * o.price) AS total FROM users u JOIN orders o ON o.user_id = u.id"
        " GROUP BY u.id ORDER BY total DESC, u.id LIMIT 25;",
        "SELECT item, sum(qty), count(DISTINCT user_id) FROM orders GROUP BY item ORDER BY 2 DESC, item LIMIT 25;",
        "SELECT day / 7 AS week, count(*), sum(price) FROM orders GROUP BY week ORDER BY week;",
        "SELECT city, group_concat(name, ',') FROM (SELECT city, name FROM users WHERE age = 42 ORDER BY name)"
        " GROUP BY city ORDER BY city;",
        "WITH RECURSIVE r(n, s) AS (SELECT 1, '' UNION ALL SELECT n + 1, substr(s || printf('%x', n * n), -200)"
        " FROM r WHERE n < 20000) SELECT max(n), length(s), s FROM r WHERE n = 20000;",
        "UPDATE users SET bio = bio || ' ' || upper(name) WHERE age % 3 = 0;",
        "DELETE FROM orders WHERE day % 5 = 0;",
        "SELECT count(*), sum(length(bio)), sum(age) FROM users;",
        "SELECT count(*), sum(price) FROM orders o WHERE EXISTS"
        " (SELECT 1 FROM users u WHERE u.id = o.user_id AND u.city IN ('city01', 'city07', 'city13'));",
        "SELECT name FROM users ORDER BY email DESC, id LIMIT 10 OFFSET 1000;",
        "PRAGMA integrity_check;",
    ]
    return "\n".join(out) + "\n"


def gen_z3(rng, scale):
    jobs, machines = 9, 5
    out = ["(set-option :produce-models true)"]
    for _ in range(scaled(10, scale)):
        dur = [[rng.randrange(1, 20) for _ in range(machines)] for _ in range(jobs)]
        order = [rng.sample(range(machines), machines) for _ in range(jobs)]
        out.append("(push 1)")
        out.append("(declare-const makespan Int)")
        for j in range(jobs):
            for m in range(machines):
                out.append("(declare-const s_%d_%d Int) (assert (>= s_%d_%d 0))" % (j, m, j, m))
            for a, b in zip(order[j], order[j][1:]):
                out.append("(assert (>= s_%d_%d (+ s_%d_%d %d)))" % (j, b, j, a, dur[j][a]))
            last = order[j][-1]
            out.append("(assert (<= (+ s_%d_%d %d) makespan))" % (j, last, dur[j][last]))
        # One machine runs one job at a time.
        for m in range(machines):
            for j in range(jobs):
                for k in range(j + 1, jobs):
                    out.append("(assert (or (>= s_%d_%d (+ s_%d_%d %d)) (>= s_%d_%d (+ s_%d_%d %d))))"
                               % (k, m, j, m, dur[j][m], j, m, k, m, dur[k][m]))
        out.append("(minimize makespan)")
        out.append("(check-sat)")
        out.append("(get-objectives)")
        out.append("(pop 1)")
    return "\n".join(out) + "\n"


def gen_gs(rng, scale):
    out = ["%!PS-Adobe-3.0", "%%Pages: (atend)",
           # depth len tree: a branch of len up the y axis, then two smaller trees at its tip
           "/tree { 1 index 0 gt { 0 0 moveto 0 1 index lineto stroke"
           " gsave 0 1 index translate 25 rotate 1 index 1 sub 1 index 0.72 mul tree grestore"
           " gsave 0 1 index translate -35 rotate 1 index 1 sub 1 index 0.72 mul tree grestore"
           " } if pop pop } def"]
    fonts = ["Times-Roman", "Helvetica-Bold", "Courier", "Palatino-Italic", "NewCenturySchlbk-Roman"]
    words = ["allocator", "malloc", "free", "arena", "slab", "page", "heap", "thread", "cache",
             "segment", "span", "bin", "chunk", "remote", "local"]

    def pt():
        return "%d %d" % (rng.randrange(612), rng.randrange(792))

    pages = scaled(24, scale)
    for p in range(1, pages + 1):
        out.append("%%%%Page: %d %d" % (p, p))
        for _ in range(120):  # filled and stroked Bezier shapes
            out.append("%.3f %.3f %.3f setrgbcolor newpath %s moveto %s %s %s curveto %s %s %s curveto"
                       " closepath gsave fill grestore 0 setgray %.2f setlinewidth stroke"
                       % (rng.random(), rng.random(), rng.random(), pt(), pt(), pt(), pt(), pt(), pt(),
                          pt(), rng.random() * 3))
        out.append("gsave newpath 100 100 moveto 512 100 lineto 306 700 lineto closepath clip")
        for _ in range(150):  # text, scaled and rotated, clipped to a triangle
            out.append("/%s findfont %d scalefont setfont gsave %s translate %d rotate 0 0 moveto"
                       " %.2f setgray (%s %d) show grestore"
                       % (rng.choice(fonts), rng.randrange(6, 40), pt(), rng.randrange(360),
                          rng.random() * 0.8, rng.choice(words), rng.randrange(10**6)))
        out.append("grestore")
        out.append("gsave 306 40 translate 0 0.4 0 setrgbcolor 0.5 setlinewidth 12 140 tree grestore")
        out.append("showpage")
    out += ["%%Trailer", "%%%%Pages: %d" % pages, "%%EOF"]
    return "\n".join(out) + "\n"


def gen_gcc(rng, scale):
    out = ["#include <stddef.h>", "#include <string.h>",
           "struct rec { int id; long acc; double w; char tag[16]; struct rec *next; };",
           "static inline long mix(long a, long b) { a ^= b + 0x9e3779b97f4a7c15L + (a << 6) + (a >> 2); return a; }"]
    nfun = scaled(55, scale, 2)
    for f in range(nfun):
        ops = ["+", "-", "*", "^", "|", "&"]
        cases = "\n".join(
            "    case %d: acc = mix(acc, (long)v[i] %s %d); r->w += acc * %.3f; break;"
            % (c, rng.choice(ops), rng.randrange(1, 1000), rng.random()) for c in range(rng.randrange(8, 24)))
        out.append("""
long f%d(struct rec *r, const int *v, size_t n, double *out)
{
    long acc = %d;
    for (size_t i = 0; i < n; i++) {
        switch ((v[i] + (int)i) %% %d) {
%s
        default: acc += v[i] >> (i & 7);
        }
        if (r->next && (acc & %d) == 0) { r = r->next; memcpy(r->tag, &acc, sizeof acc); }
    }
    for (size_t i = 0; i + 4 <= n; i += 4)
        out[i / 4] = out[i / 4] * %.3f + v[i] * v[i + 1] - v[i + 2] * (double)v[i + 3];
    return acc + r->id + f%d_helper(acc, n);
}""" % (f, rng.randrange(1 << 20), rng.randrange(8, 24), cases, rng.randrange(1, 64),
            rng.random(), f))
        out.insert(4, "static long f%d_helper(long a, size_t n) { long s = a; for (size_t k = 0; k < n %% %d; k++)"
                   " s = mix(s, (long)k * %d); return s; }" % (f, rng.randrange(3, 17), rng.randrange(3, 999)))
    out.append("long (*const table[])(struct rec *, const int *, size_t, double *) = {%s};"
               % ", ".join("f%d" % f for f in range(nfun)))
    return "\n".join(out) + "\n"


def gen_git(rng, scale):
    # fast-import: blobs inline, fixed identities and dates, so the commit ids never change.
    nfiles, ncommits = 300, scaled(600, scale)
    lines = {}
    for f in range(nfiles):
        lines[f] = ["line %d of file %d: %s" % (i, f, "".join(rng.choice("abcdefghij ") for _ in range(40)))
                    for i in range(rng.randrange(50, 250))]
    out = []

    def data(text):
        b = text.encode()
        out.append(b"data %d\n" % len(b) + b)

    for c in range(ncommits):
        when = 1600000000 + c * 3600
        out.append(b"commit refs/heads/main\n")
        out.append(b"committer Bench <bench@example.org> %d +0000\n" % when)
        data("commit %d: edit %s\n" % (c, "files" if c else "initial"))
        touched = range(nfiles) if c == 0 else rng.sample(range(nfiles), rng.randrange(1, 12))
        for f in touched:
            body = lines[f]
            if c:
                for _ in range(rng.randrange(1, 8)):
                    i = rng.randrange(len(body))
                    if rng.random() < 0.5:
                        body[i] = "edited in %d: %s" % (c, body[i][:30])
                    else:
                        body.insert(i, "inserted in %d at %d" % (c, i))
            out.append(b"M 100644 inline dir%d/file%d.txt\n" % (f % 17, f))
            data("\n".join(body) + "\n")
        out.append(b"\n")
    return b"".join(out)


def gen_redis(rng, scale):
    out = []

    def cmd(*args):
        out.append("*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in args))

    n = scaled(50000, scale)
    for i in range(n):
        size = rng.choice((8, 24, 100, 300, 1000, 4000))
        cmd("SET", "str:%d" % i, "v" * size)
        if i % 4 == 0:
            cmd("HSET", "hash:%d" % (i % 500), "f%d" % i, "x" * rng.randrange(1, 200))
        if i % 3 == 0:
            cmd("RPUSH", "list:%d" % (i % 200), "item-%d-%s" % (i, "y" * rng.randrange(0, 64)))
        if i % 5 == 0:
            cmd("ZADD", "zset:%d" % (i % 100), str(rng.randrange(10**6)), "m%d" % i)
    for i in range(0, n, 3):  # holes all over the heap
        cmd("DEL", "str:%d" % i)
    return "".join(out)


def main():
    scale, outdir = float(sys.argv[1]), sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    for name, gen in (("sqlite.sql", gen_sqlite), ("z3.smt2", gen_z3), ("gs.ps", gen_gs),
                      ("gcc.c", gen_gcc), ("git.fi", gen_git), ("redis.resp", gen_redis)):
        data = gen(random.Random(name), scale)  # a seed per file: one generator's change leaves the others alone
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())


if __name__ == "__main__":
    main()
