#!/usr/bin/env python3
"""Rebuilds corpus/attack/*.txt from payload lists shipped in Debian packages plus the
hand-built lists in corpus/hand/. Reproducible: fixed random seed.

    apt-get download wfuzz sqlmap
    dpkg-deb -x wfuzz_*.deb /tmp/wf && dpkg-deb -x sqlmap_*.deb /tmp/sq
    python3 corpus/extract.py /tmp/wf /tmp/sq

Selection rules (applied to the upstream lists, never per payload):
  * drop lines with fewer than 3 alphanumeric characters after one URL decode
    (bare metacharacter probes such as `'`, `--`, `|`, `%28` — they are fuzzing probes,
    not attacks, and are indistinguishable from punctuation in benign text);
  * drop lines that are a single bare word or number (`select`, `PRINT`, `1e100`):
    keywords alone are not injections;
  * drop LDAP-filter and XML/format-string payloads (not one of our five categories);
  * cap line length at 400 bytes.
"""
import os, random, re, sys, urllib.parse
import xml.etree.ElementTree as ET

random.seed(20240601)
HERE = os.path.dirname(os.path.abspath(__file__))
wf, sq = sys.argv[1], sys.argv[2]
WL = os.path.join(wf, "usr/share/wfuzz/wordlist")
SQ = os.path.join(sq, "usr/share/sqlmap/data")


def lines(path):
    with open(path, encoding="latin-1") as f:
        return [l.rstrip("\r\n") for l in f if l.strip() and not l.startswith("#")]


def keep(l):
    d = urllib.parse.unquote(l)
    if len(re.findall(r"[A-Za-z0-9]", d)) < 3:
        return False
    if re.fullmatch(r"\s*[A-Za-z0-9_@,.]+\s*", d):
        return False
    if "(|(" in d or "*(|" in d or "%8.8x" in d or "<!ENTITY" in d or d.startswith("<?xml"):
        return False
    return len(l) <= 400


def uniq(xs):
    seen, out = set(), []
    for x in xs:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def write(name, header, items):
    with open(os.path.join(HERE, "attack", name), "w") as f:
        f.write(header)
        for i in items:
            f.write(i + "\n")
    print(name, len(items))


def hand(name):
    return lines(os.path.join(HERE, "hand", name))


# --- SQL injection -----------------------------------------------------------------------
def sqlmap_vectors():
    out = []
    for fn in sorted(os.listdir(os.path.join(SQ, "xml/payloads"))):
        root = ET.parse(os.path.join(SQ, "xml/payloads", fn)).getroot()
        for t in root.iter("test"):
            v = t.findtext("request/payload") or t.findtext("vector")
            if v:
                out.append(v.strip())
    return out


def instantiate(v, i):
    n = {k: str(random.randint(1000, 9999)) for k in ["", "1", "2", "3", "4", "5"]}
    if "[UNION]" in v:
        cols = random.randint(1, 8)
        nulls = ["NULL"] * cols
        nulls[random.randrange(cols)] = "CONCAT(0x716b767671,0x%s,0x7178706a71)" % os.urandom(6).hex()
        v = v.replace("[UNION]", "UNION ALL SELECT " + ",".join(nulls))
    rep = {
        "[INFERENCE]": f"{n['']}={n['']}", "[SLEEPTIME]": "5", "[DELIMITER_START]": "qkvvq",
        "[DELIMITER_STOP]": "qxpjq", "[QUERY]": "SELECT (CASE WHEN (1=1) THEN 1 ELSE 0 END)",
        "[DELAYED]": "SLEEP(5)", "[ORIGVALUE]": "1", "[CHAR]": "NULL", "[GENERIC_SQL_COMMENT]": "-- -",
        "[COLSTART]": "", "[COLSTOP]": "", "[SPACE_REPLACE]": " ", "[DOLLAR_REPLACE]": "$",
        "[AT_REPLACE]": "@", "[HASH_REPLACE]": "#",
        "[RANDSTR]": "".join(random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(4)),
    }
    for k, r in rep.items():
        v = v.replace(k, r)
    for k in ["1", "2", "3", "4", "5", ""]:
        v = v.replace(f"[RANDNUM{k}]", n[k])
    # Boundaries as sqlmap combines them (prefix/suffix pairs from boundaries.xml).
    forms = ["1 {v}", "1' {v}-- -", "1') {v} AND ('abc'='abc", "1\" {v}-- -", "1 {v}#", "-1' {v} AND 'x'='x", "1) {v}-- -"]
    f = forms[i % len(forms)]
    if v.upper().startswith(("UNION", ";")):
        f = ["-1 {v}-- -", "1' {v}-- -", "1') {v}#"][i % 3]
    return f.replace("{v}", v)


sq_vectors = sqlmap_vectors()
sample = random.sample(sq_vectors, min(130, len(sq_vectors)))
sqlmap_payloads = [instantiate(v, i) for i, v in enumerate(sample)]
wf_sqli = [l for l in lines(os.path.join(WL, "Injections/SQL.txt")) + lines(os.path.join(WL, "vulns/sql_inj.txt")) if keep(l)]
write("sqli.txt", "# SQL injection. Sources: wfuzz Injections/SQL.txt + vulns/sql_inj.txt (GPL-2), sqlmap data/xml/payloads (GPL-2, instantiated), corpus/hand/sqli.txt\n",
      uniq(wf_sqli + sqlmap_payloads + hand("sqli.txt")))

# --- XSS -----------------------------------------------------------------------------------
allatk = lines(os.path.join(WL, "Injections/All_attack.txt"))
xss_like = [l for l in allatk if re.search(r"(?i)<[a-z]|javascript:|%3c[a-z]|alert", l)]
write("xss.txt", "# XSS. Sources: wfuzz Injections/XSS.txt + XSS lines of Injections/All_attack.txt (GPL-2), corpus/hand/xss.txt\n",
      uniq([l for l in lines(os.path.join(WL, "Injections/XSS.txt")) + xss_like if keep(l)] + hand("xss.txt")))

# --- Path traversal ------------------------------------------------------------------------
# wfuzz's traversal lists are templates for the target file; fill the placeholder.
trav_pool = [l.replace("{FILE}", "etc/passwd") for f in ["dirTraversal.txt", "dirTraversal-nix.txt", "dirTraversal-win.txt"] for l in lines(os.path.join(WL, "vulns", f)) if keep(l)]
write("traversal.txt", "# Path traversal / LFI. Sources: wfuzz Injections/Traversal.txt + 90 sampled from vulns/dirTraversal*.txt (GPL-2), corpus/hand/traversal.txt\n",
      uniq([l for l in lines(os.path.join(WL, "Injections/Traversal.txt")) if keep(l)] + random.sample(trav_pool, 90) + hand("traversal.txt")))

# --- Command injection ---------------------------------------------------------------------
cmd_like = [l for l in allatk if re.search(r"(?i)(^|[;|`&]|%0a|\n)\s*(/bin/)?(id|ls|dir|cat|netstat|uname|ping|sleep|whoami|echo|nc|wget|curl|type)\b", l) and not re.search(r"(?i)<[a-z]|select|union", l)]
write("cmdi.txt", "# Command injection. Sources: command lines of wfuzz Injections/All_attack.txt (GPL-2), corpus/hand/cmdi.txt\n",
      uniq([l for l in cmd_like if keep(l) or re.search(r"id|ls|dir", l)] + hand("cmdi.txt")))

# --- Scanner user agents -------------------------------------------------------------------
write("scanner_ua.txt", "# Scanner User-Agents. Source: corpus/hand/scanner_ua.txt (default UAs of each tool, from their public docs/source)\n",
      uniq(hand("scanner_ua.txt")))

# --- Benign browser UAs sampled from sqlmap's list of real UAs -----------------------------
uas = [l for l in lines(os.path.join(SQ, "txt/user-agents.txt")) if l.startswith("Mozilla/") or l.startswith("Opera/")]
with open(os.path.join(HERE, "benign", "user_agents_sqlmap.txt"), "w") as f:
    f.write("# 120 real browser User-Agents sampled from sqlmap data/txt/user-agents.txt (GPL-2)\n")
    for u in random.sample(uas, 120):
        f.write(u + "\n")
