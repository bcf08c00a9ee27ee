#!/usr/bin/env python3
"""Writes corpus/benign/generated.jsonl: realistic benign requests built from fixed pools
(written for this corpus) and word lists shipped in wfuzz (Debian 3.1.0-2, GPL-2:
general/spanish.txt, catala.txt, euskera.txt, others/names.txt) and sqlmap (Debian 1.7.2-1,
GPL-2: data/txt/common-columns.txt as form field names). Fixed seed: the same inputs give
the same file.

    python3 corpus/benign_gen.py /tmp/wf /tmp/sq

Each line: {"kind", "method", "path", "query", "ctype", "body" | "body_b64"}.
"""
import base64, json, os, random, sys, urllib.parse

random.seed(7)
wf, sq = sys.argv[1:3]
WL = os.path.join(wf, "usr/share/wfuzz/wordlist")


def words(path):
    with open(path, encoding="latin-1") as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


spanish = words(os.path.join(WL, "general/spanish.txt"))
catalan = words(os.path.join(WL, "general/catala.txt"))
basque = words(os.path.join(WL, "general/euskera.txt"))
names = words(os.path.join(WL, "others/names.txt"))
columns = [c for c in words(os.path.join(sq, "usr/share/sqlmap/data/txt/common-columns.txt")) if c.isidentifier()]

PHRASES = [
    "cheap flights to lisbon in may", "best running shoes for flat feet", "how to reset my password",
    "weather tomorrow berlin", "recipe for banana bread without eggs", "rock & roll hall of fame tickets",
    "O'Reilly learning python 5th edition", "C++ vs C# performance", "what is 15% of 80",
    "Günstige Ferienwohnung an der Ostsee", "Wie spät ist es in Tokio?", "restaurants près de la tour eiffel",
    "où acheter un vélo électrique", "mejores playas de españa 2024", "¿cuánto cuesta un billete a madrid?",
    "receita de bolo de cenoura", "preço da gasolina hoje", "купить зимние шины", "погода в москве на неделю",
    "東京 ラーメン おすすめ", "新幹線 予約 方法", "北京 天气 预报", "如何学习编程", "서울 맛집 추천", "한국어 배우기",
    "أفضل مطاعم في دبي", "سعر الذهب اليوم", "दिल्ली में मौसम", "hotel em são paulo com café da manhã",
    "istanbul'da gezilecek yerler", "ceny mieszkań w krakowie", "treni per firenze domani", "pizza napoletana ricetta",
    "ελληνική σαλάτα συνταγή", "nyheter sverige idag", "tiempo en buenos aires", "5\" display phones under $300",
    "50% off winter jackets", "size 10.5 (US) sneakers", "AT&T phone plans", "H&M summer dress", "Q&A session notes",
    "select the right mattress", "union station parking", "drop shipping business ideas", "sleep training 6 month old",
    "alert: storm warning for florida", "script writing course online", "cat food; dog food; bird seed",
    "python list comprehension example", "javascript array map vs forEach", "sql join two tables example",
    "how to exit vim", "git rebase vs merge", "docker compose env file", "kubernetes ingress tls",
]

CODE = [
    "for i in range(10):\n    print(i * 2)",
    "const total = items.reduce((sum, x) => sum + x.price, 0);",
    "SELECT name, email FROM customers WHERE country = 'DE' ORDER BY name;",
    "if (user && user.isAdmin) { showPanel(); }",
    "fn main() {\n    println!(\"Hello, world!\");\n}",
    "def greet(name: str) -> str:\n    return f\"Hello {name}\"",
    "$ npm install --save-dev typescript",
    "git commit -m \"Fix typo in README\"",
    "<div class=\"card\"><h2>Title</h2><p>Body text</p></div>",
    "let v: Vec<String> = Vec::new();",
    "document.querySelector('#menu').classList.toggle('open');",
    "import pandas as pd\ndf = pd.read_csv('data.csv')\nprint(df.head())",
    "while read line; do echo \"$line\"; done < input.txt",
    "public static void main(String[] args) { System.out.println(\"hi\"); }",
    "UPDATE settings SET theme = 'dark' WHERE user_id = 42;",
    "a = [x**2 for x in nums if x % 2 == 0]",
    "curl -X POST https://api.example.com/v1/items -d '{\"name\":\"x\"}'",
    "@media (max-width: 600px) { .nav { display: none; } }",
    "try { await save(); } catch (e) { console.error(e); }",
    "SELECT COUNT(*) FROM orders GROUP BY status;",
]

RICH = [
    "<p>Thanks for the <strong>quick</strong> reply! See <a href=\"https://example.com/docs\">the docs</a>.</p>",
    "<ul><li>Milk</li><li>Eggs</li><li>Bread &amp; butter</li></ul>",
    "<p>Photo from our trip:</p><p><img src=\"https://cdn.example.com/img/beach.jpg\" alt=\"beach\"></p>",
    "<blockquote>To be, or not to be</blockquote><p>— Hamlet</p>",
    "<h2>Release notes</h2><p>Version <em>2.3</em> fixes the login bug.</p><pre><code>npm i app@2.3</code></pre>",
    "<p>Price: 5 &lt; 10 &gt; 2</p><p>Call us at +1 (555) 010-0199.</p>",
    "<table><tr><th>Size</th><th>Qty</th></tr><tr><td>M</td><td>2</td></tr></table>",
]

CITIES = ["Berlin", "Lisboa", "São Paulo", "Kraków", "Zürich", "München", "Toronto", "Osaka", "Nairobi", "Montréal"]
PATHS = ["/search", "/products", "/blog/2024/05/spring-sale", "/api/v1/orders", "/account/settings", "/cart",
         "/docs/getting-started", "/category/shoes/running", "/user/profile/edit", "/checkout/shipping"]


def pick(xs):
    return random.choice(xs)


def sentence():
    lang = random.random()
    if lang < 0.35:
        return pick(PHRASES)
    pool = spanish if lang < 0.6 else catalan if lang < 0.75 else basque if lang < 0.8 else names
    return " ".join(pick(pool) for _ in range(random.randint(2, 7)))


def form(fields):
    return urllib.parse.urlencode(fields)


def email(n):
    return f"{n.lower()}.{random.randint(1, 999)}@example.org"


rows = []


def add(kind, method, path, query="", ctype="", body=None, body_b64=None):
    r = {"kind": kind, "method": method, "path": path, "query": query, "ctype": ctype}
    if body is not None:
        r["body"] = body
    if body_b64 is not None:
        r["body_b64"] = body_b64
    rows.append(r)


for _ in range(1200):
    q = sentence()
    extra = random.choice(["", "&page=2", "&sort=price_asc", "&lang=de&region=EU", "&utm_source=newsletter&utm_medium=email"])
    add("search", "GET", pick(PATHS[:3]), "q=" + urllib.parse.quote_plus(q) + extra)
for _ in range(600):
    n = pick(names)
    fields = {"name": n, "email": email(n), "city": pick(CITIES), "message": sentence(),
              pick(columns): sentence()[:30], "csrf_token": base64.urlsafe_b64encode(random.randbytes(24)).decode()}
    add("form", "POST", "/contact", ctype="application/x-www-form-urlencoded", body=form(fields))
for _ in range(500):
    n = pick(names)
    obj = {"user": {"name": n, "email": email(n), "tags": [pick(spanish), pick(catalan)]},
           "order": {"id": random.randint(1000, 99999), "items": [{"sku": f"SKU-{random.randint(100, 999)}",
                     "qty": random.randint(1, 5), "note": sentence()} for _ in range(random.randint(1, 3))]},
           "comment": pick(CODE) if random.random() < 0.3 else sentence()}
    add("json", "POST", "/api/v1/orders", ctype="application/json", body=json.dumps(obj, ensure_ascii=False))
for _ in range(300):
    body = pick(RICH) + "<p>" + sentence() + "</p>"
    add("richtext", "POST", "/blog/comments", ctype="application/x-www-form-urlencoded",
        body=form({"post_id": str(random.randint(1, 5000)), "html": body}))
for _ in range(300):
    snippet = pick(CODE)
    add("code", "POST", "/forum/reply", ctype="application/x-www-form-urlencoded",
        body=form({"title": sentence()[:40], "body": "I tried this:\n\n" + snippet + "\n\nAny idea why it fails?"}))
for i in range(300):
    boundary = f"----WebKitFormBoundary{random.getrandbits(64):016x}"
    name = pick(names)
    if i % 3 == 0:
        content, fname, ct = ("\x89PNG\r\n\x1a\n".encode("latin-1") + random.randbytes(2048)), f"photo_{i}.png", "image/png"
    elif i % 3 == 1:
        rows_csv = "\n".join(f"{pick(names)},{random.randint(1, 99)},{pick(CITIES)}" for _ in range(20))
        content, fname, ct = ("name,age,city\n" + rows_csv).encode(), f"people_{i}.csv", "text/csv"
    else:
        content, fname, ct = (sentence() + "\n\n" + pick(CODE)).encode(), f"notes_{i}.txt", "text/plain"
    parts = [
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n{sentence()}\r\n".encode(),
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"author\"\r\n\r\n{name}\r\n".encode(),
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{fname}\"\r\nContent-Type: {ct}\r\n\r\n".encode()
        + content + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    add("upload", "POST", "/upload", ctype=f"multipart/form-data; boundary={boundary}",
        body_b64=base64.b64encode(b"".join(parts)).decode())
for _ in range(200):
    n = pick(names)
    xml = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">"
           f"<soap:Body><CreateUser><Name>{n}</Name><City>{pick(CITIES)}</City><Bio>{sentence()} &amp; more</Bio>"
           f"</CreateUser></soap:Body></soap:Envelope>")
    add("xml", "POST", "/soap/users", ctype="text/xml; charset=utf-8", body=xml)
for _ in range(300):
    p = pick(PATHS) + random.choice(["", "/", f"/{random.randint(1, 9999)}", f"/{pick(spanish).lower()}-{pick(catalan).lower()}",
                                     ".html", "/index.php", "/style.v2.css", "/app.bundle.js", "/logo.svg"])
    add("path", "GET", urllib.parse.quote(p, safe="/.-_~"), random.choice(["", "ref=home", "id=42&view=full"]))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "benign", "generated.jsonl")
with open(out, "w", encoding="utf-8") as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(out, len(rows))
