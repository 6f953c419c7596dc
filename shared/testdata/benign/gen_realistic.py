#!/usr/bin/env python3
"""Builds realistic.jsonl: benign request values as a real API sees them, each judged where it
occurs (a query value, a named header, or a body with its content type). Deterministic (seeded).

    python3 gen_realistic.py > realistic.jsonl

Groups: user agents of common browsers, client tools, bots and probes; Referer, Origin,
Accept-Language and Cookie headers; URLs with hosts, ports, paths and queries; postal and email
addresses; prose in several languages (apostrophes, quotes, punctuation); SQL-ish English;
code-like search terms; numbers, dates, versions, file names; JSON, XML and HTML documents and
form bodies.
"""
import json
import random
import urllib.parse

R = random.Random(20261130)


def out(kind, text, **kw):
    item = {"kind": kind, "text": text}
    item.update(kw)
    print(json.dumps(item, ensure_ascii=False))


def ver(*parts):
    return ".".join(str(R.randint(a, b)) for a, b in parts)


# --- user agents -----------------------------------------------------------------------------
PLATFORMS = [
    "Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7", "X11; Linux x86_64",
    "X11; Ubuntu; Linux x86_64", "Linux; Android 14; Pixel 8", "Linux; Android 13; SM-S918B",
    "iPhone; CPU iPhone OS 17_2 like Mac OS X", "iPad; CPU OS 16_6 like Mac OS X",
    "Windows NT 6.1; WOW64", "X11; CrOS x86_64 15633.69.0",
]


def browser():
    p = R.choice(PLATFORMS)
    c = ver((100, 124), (0, 0), (5000, 6300), (0, 200))
    kind = R.randrange(5)
    if kind == 0:
        return f"Mozilla/5.0 ({p}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c} Safari/537.36"
    if kind == 1:
        f = R.randint(100, 125)
        return f"Mozilla/5.0 ({p}; rv:{f}.0) Gecko/20100101 Firefox/{f}.0"
    if kind == 2:
        return (f"Mozilla/5.0 ({p}) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                f"Version/{R.randint(15, 17)}.{R.randint(0, 6)} Mobile/15E148 Safari/604.1")
    if kind == 3:
        return (f"Mozilla/5.0 ({p}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c} "
                f"Safari/537.36 Edg/{c}")
    return f"Mozilla/5.0 ({p}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c} Mobile Safari/537.36"


def client():
    return R.choice([
        f"curl/{ver((7, 8), (50, 88), (0, 1))}",
        f"Wget/1.{R.randint(19, 24)}.{R.randint(0, 5)} (linux-gnu)",
        f"Wget/1.{R.randint(19, 24)}.{R.randint(0, 5)}",
        f"python-requests/2.{R.randint(20, 32)}.{R.randint(0, 3)}",
        f"Python-urllib/3.{R.randint(8, 12)}",
        f"python-httpx/0.{R.randint(20, 27)}.{R.randint(0, 2)}",
        f"aiohttp/3.{R.randint(7, 9)}.{R.randint(0, 5)}",
        "Go-http-client/1.1", "Go-http-client/2.0",
        f"okhttp/4.{R.randint(9, 12)}.{R.randint(0, 3)}",
        f"okhttp/3.{R.randint(12, 14)}.{R.randint(0, 9)}",
        f"PostmanRuntime/7.{R.randint(26, 37)}.{R.randint(0, 3)}",
        f"Apache-HttpClient/4.5.{R.randint(10, 14)} (Java/{R.randint(11, 21)}.0.{R.randint(1, 9)})",
        f"Apache-HttpClient/5.{R.randint(1, 3)}.{R.randint(0, 4)} (Java/17.0.{R.randint(1, 9)})",
        f"axios/1.{R.randint(3, 7)}.{R.randint(0, 9)}", f"axios/0.{R.randint(21, 27)}.{R.randint(0, 4)}",
        "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "node-fetch",
        f"node/{R.randint(16, 22)}.{R.randint(0, 12)}.0", "undici", f"got (https://github.com/sindresorhus/got)",
        f"libwww-perl/6.{R.randint(40, 77)}", f"HTTPie/3.{R.randint(0, 2)}.{R.randint(0, 3)}",
        f"Java/{R.randint(11, 21)}.0.{R.randint(1, 9)}", f"Dart/3.{R.randint(0, 3)} (dart:io)",
        f"Ruby", f"Faraday v2.{R.randint(0, 9)}.{R.randint(0, 9)}", f"RestSharp/110.{R.randint(0, 2)}.0.0",
        f"insomnia/2023.{R.randint(1, 5)}.0", f"k6/0.{R.randint(40, 49)}.0 (https://k6.io/)",
        f"Prometheus/2.{R.randint(40, 50)}.0", f"kube-probe/1.{R.randint(24, 29)}",
        "ELB-HealthChecker/2.0", "Amazon CloudFront", "GoogleHC/1.0",
        f"Blackbox Exporter/0.{R.randint(20, 25)}.0", "Zabbix", "UptimeRobot/2.0",
        f"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.{R.randint(10000, 17000)}; Pro)",
        f"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Twitterbot/1.0", "WhatsApp/2.23.20.0 A", "TelegramBot (like TwitterBot)",
        f"Stripe/1.0 (+https://stripe.com/docs/webhooks)", "GitHub-Hookshot/8d2b1c3",
        f"Dalvik/2.1.0 (Linux; U; Android 13; SM-A536B Build/TP1A.220624.014)",
        f"MyShopApp/4.{R.randint(0, 9)}.{R.randint(0, 30)} (iPhone; iOS 17.{R.randint(0, 3)}; Scale/3.00)",
        f"CFNetwork/1474 Darwin/23.0.0", f"grpc-java-okhttp/1.{R.randint(50, 62)}.0",
        f"Jetty/9.4.{R.randint(40, 53)}", f"Vert.x-WebClient/4.{R.randint(3, 5)}.0",
        f"Guzzle/7.{R.randint(4, 8)} curl/7.{R.randint(60, 88)}.0 PHP/8.{R.randint(0, 3)}.{R.randint(0, 20)}",
        f"WordPress/6.{R.randint(0, 4)}; https://blog.example.org",
    ])


for _ in range(500):
    out("header", browser(), name="User-Agent")
for _ in range(500):
    out("header", client(), name="User-Agent")

# --- URLs ------------------------------------------------------------------------------------
HOSTS = ["shop.example.com", "api.example.org", "www.example.net", "app.acme.io", "cdn.example.com",
         "docs.python.org", "github.com", "en.wikipedia.org", "maps.google.com", "status.example.io",
         "example.co.uk", "xn--bcher-kva.example", "api.eu-west-1.example.com", "files.example.com"]
PATHS = ["/", "/products/42", "/api/v1/users/1234/orders", "/index.html", "/blog/2024/05/hello-world",
         "/search", "/docs/getting-started", "/wiki/O%27Reilly_Media", "/static/app.9f8e7d.js",
         "/images/logo@2x.png", "/checkout/cart", "/account/settings#security", "/en-us/help/faq",
         "/download/report-2024-Q1.pdf", "/users/me", "/v2/items?page=2&per_page=50"]


def url():
    scheme = R.choice(["https", "https", "https", "http"])
    host = R.choice(HOSTS)
    port = R.choice(["", "", "", ":8443", ":8080", ":443", ":3000"])
    path = R.choice(PATHS)
    q = R.choice(["", "", "?utm_source=newsletter&utm_medium=email", "?q=red+shoes&sort=price",
                  "?lang=de", "?ref=home", "?id=42&view=full"])
    return f"{scheme}://{host}{port}{path}{q}" if "?" not in path else f"{scheme}://{host}{port}{path}"


for _ in range(300):
    u = url()
    out("value", urllib.parse.quote(u, safe="") if R.random() < 0.5 else u)
for _ in range(150):
    out("header", url(), name="Referer")
for origin in ["http://localhost:3000", "http://localhost:8080", "http://127.0.0.1:5173",
               "https://app.example.com", "https://admin.example.org", "https://www.example.net"]:
    for _ in range(10):
        out("header", origin, name="Origin")
        out("header", origin + R.choice(["/", "/login", "/dashboard?tab=2"]), name="Referer")

# --- headers ---------------------------------------------------------------------------------
LANGS = ["en-US,en;q=0.9", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "fr-FR,fr;q=0.9", "es-ES,es;q=0.9",
         "ja,en-US;q=0.9,en;q=0.8", "zh-CN,zh;q=0.9", "pt-BR,pt;q=0.9,en;q=0.8", "*", "en"]
for l in LANGS:
    for _ in range(6):
        out("header", l, name="Accept-Language")
for _ in range(100):
    out("header", "; ".join(R.sample([
        f"session={R.getrandbits(64):016x}", "theme=dark", f"_ga=GA1.2.{R.randint(1e8, 1e9)}.{R.randint(1e9, 2e9)}",
        "consent=yes", "lang=de", f"cart_id={R.randint(1000, 99999)}", "csrftoken=Zm9vYmFyYmF6",
        "tz=Europe%2FBerlin", "last_view=%2Fproducts%2F42", "ab_test=variant-b"], 3)), name="Cookie")

# --- addresses -------------------------------------------------------------------------------
STREETS = ["Main St", "Rue de l'Église", "Hauptstraße", "O'Connell Street", "Calle de Alcalá",
           "Via dell'Orso", "Baker Street", "Avenue des Champs-Élysées", "Königsallee", "Queen's Road"]
CITIES = ["Springfield, IL 62704", "75008 Paris", "10115 Berlin", "Dublin 1", "28014 Madrid",
          "00186 Roma", "London NW1 6XE", "40212 Düsseldorf", "Hong Kong", "São Paulo - SP, 01310-100"]
for _ in range(200):
    a = f"{R.randint(1, 400)} {R.choice(STREETS)}, {R.choice(['', 'Apt 4B, ', 'Suite #210, ', 'c/o Smith & Sons, '])}{R.choice(CITIES)}"
    out("value", a if R.random() < 0.5 else urllib.parse.quote_plus(a))
NAMES = ["ada.lovelace", "o'brien", "jean-luc.picard", "maria_garcia", "li.wei", "d'angelo", "s.o'neil"]
for _ in range(100):
    e = f"{R.choice(NAMES)}{R.choice(['', '+news', '42'])}@{R.choice(['example.com', 'mail.example.org', 'acme.co.uk'])}"
    out("value", e if R.random() < 0.5 else urllib.parse.quote(e, safe=""))

# --- prose -----------------------------------------------------------------------------------
PROSE = [
    "I'd like to return the shoes; they're too small.", "Don't forget: the meeting's at 3 p.m. (room 2)!",
    "Can't log in — it says \"invalid password\" again?", "Great product, 5/5 would buy again :)",
    "We're out of stock until next week & apologise for the delay.", "It's 50% off — today only!",
    "L'été dernier, j'ai visité l'Italie et c'était magnifique.", "Qu'est-ce que c'est ? C'est l'heure !",
    "Ich hätte gern zwei Brötchen, bitte. Geht's auch ohne Zucker?", "Straße gesperrt — Umleitung über die B1.",
    "¿Dónde está la estación? ¡Gracias!", "No sé si puedo ir mañana; te aviso.",
    "Dov'è l'albergo? C'è un problema con l'ordine.", "Não sei se consigo chegar às 18h, desculpa.",
    "Ik heb 't pakket gisteren ontvangen, bedankt!", "Dziękuję za szybką dostawę!",
    "Siparişim nerede? Kargo takip numarası çalışmıyor.", "Спасибо за заказ! Доставка завтра.",
    "ご注文ありがとうございます。明日発送します。", "谢谢你的帮助，我明天再来。", "شكرا لكم على الخدمة الممتازة",
    "Rock 'n' roll isn't dead; it's just resting.", "She said: 'Meet me at Joe's at 8 o'clock.'",
    "Use promo code SAVE-20 at checkout.", "Order #4521 arrived damaged, please advise.",
    "The kids' toys (ages 3+) are in aisle 7.", "Temperature: -5°C to +3°C, windy.",
    "Price ~ $19.99 / month, billed yearly.", "See https://example.com/help for details.",
    "Re: your ticket [#88123] — status update", "5' 11\" tall, 180 lbs", "Wait... what?! Really??",
    "Tom & Jerry; Laurel & Hardy; Simon & Garfunkel", "C'mon, y'all — let's go!",
    "Line one\nLine two\nLine three", "Dear team,\nplease find the invoice attached.\nThanks, Ann",
    "Notes:\n- bring ID\n- arrive early", "Address: 12 Baker Street\nPhone: +44 20 7946 0000",
    "Location: Berlin\nDate: tomorrow", "Subject: Re: Meeting\n\nSounds good.",
]
SQLISH = [
    "select one or more options", "Select all that apply", "drop me a line", "union of two sets",
    "order by date, newest first", "insert coin to continue", "update your profile", "delete my account",
    "where is my order", "from London to Paris", "join our newsletter", "group by category",
    "having trouble signing in", "or else", "and/or", "1 or 2 bedrooms", "waiting for delivery",
    "sleep 8 hours", "exec summary Q3", "create a new table for the party of 6", "truncate long text",
    "SELECT plan: Premium", "between 10 and 20 items", "like new, barely used", "not null and void",
    "case closed", "If-Then-Else logic explained", "user's guide", "admin panel access request",
    "count me in", "version 2 is out", "char limit 280", "cast & crew", "alter ego", "load more",
]
CODE = [
    "array.map()", "std::vector<int>", "useEffect(() => {}, [])", "SELECT statement examples",
    "git rebase -i HEAD~3", "python list comprehension", "a*b = c", "x <= 5 && y >= 2", "foo_bar.baz",
    "npm install --save-dev", "printf(\"%d\", x)", "if (a > b) return a;", "border-radius: 4px",
    "<div> vs <span>", "kubectl get pods -n default", "docker compose up -d", "O(n log n)", "C# async/await",
    "regex ^[a-z]+$", "2^10 = 1024", "user@host:~$", "~/projects/app", "key=value; other=thing",
    "map[string]int", "Result<T, E>", "func main() {}", "div.className", "@media (max-width: 600px)",
    "#include guards", "SUM(A1:A10)", "=VLOOKUP(B2,Sheet2!A:C,3,FALSE)", "10 % 3", "i++ vs ++i",
    "JSON.parse vs JSON.stringify", "null vs undefined", "select distinct in pandas", "ls vs dir",
]
for group in (PROSE, SQLISH, CODE):
    for t in group:
        out("value", t)
        out("value", urllib.parse.quote_plus(t))
        out("body", json.dumps({"comment": t, "rating": R.randint(1, 5)}, ensure_ascii=False),
            content_type="application/json")
MISC = ["2024-05-01", "2024-05-01T12:30:00Z", "12:30", "1,234.56", "€ 19,99", "+1 (555) 010-0199",
        "v1.2.3-rc.1", "^1.2.3 || >=2.0.0", "report_final(2).pdf", "IMG_2024.JPG", "#summer-sale",
        "**bold** and _italic_", "50%", "100% cotton", "A/B test", "N/A", "TBD", "-", "n/a", "1/2 cup",
        "3-5 business days", "size: M/L", "DE89 3704 0044 0532 0130 00", "SW1A 1AA", "K1A 0B1"]
for t in MISC:
    for _ in range(4):
        out("value", t)

# --- documents -------------------------------------------------------------------------------
def xml_docs():
    n = R.randint(1, 999)
    return R.choice([
        f'<?xml version="1.0"?><note><to>Tove</to><from>Jani</from><heading>Reminder #{n}</heading><body>Don\'t forget me this weekend!</body></note>',
        f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Shop news</title><link>https://shop.example.com/</link><item><title>Sale &amp; more</title><link>https://shop.example.com/sale/{n}</link><description>&lt;p&gt;Up to 50% off&lt;/p&gt;</description></item></channel></rss>',
        f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetOrder xmlns="http://example.com/orders"><OrderId>{n}</OrderId><Customer>O\'Brien</Customer></GetOrder></soap:Body></soap:Envelope>',
        f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://www.example.net/products/{n}</loc><lastmod>2024-05-01</lastmod></url></urlset>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24"><path d="M12 2L2 7l10 5 10-5-10-5z" fill="#333"/><title>logo {n}</title></svg>',
        f'<order id="{n}"><item sku="A-{n}" qty="2">Blue mug</item><note>Leave at the door, please.</note><set name="gift-wrap">yes</set><link rel="invoice">https://shop.example.com/i/{n}</link></order>',
        f'<?xml version="1.0"?><project><modelVersion>4.0.0</modelVersion><groupId>com.example</groupId><artifactId>app</artifactId><version>1.{n}.0</version></project>',
        f'<?xml version="1.0"?><!DOCTYPE note SYSTEM "Note.dtd"><note><to>Ann</to><body>Order {n} shipped</body></note>',
        f'<feed xmlns="http://www.w3.org/2005/Atom"><title>Release {n}</title><entry><title>Fixes &amp; improvements</title><link href="https://example.org/r/{n}"/></entry></feed>',
    ])


def html_docs():
    n = R.randint(1, 999)
    return R.choice([
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Order {n}</title><link rel="stylesheet" href="/css/site.css"></head><body><h1>Thanks!</h1><p>Your order <b>#{n}</b> ships soon.</p><a href="https://shop.example.com/orders/{n}">Track it</a></body></html>',
        f'<html><body><p>Hello,</p><p>Here\'s the <a href="https://docs.example.com/guide">guide</a> &amp; the <img src="https://cdn.example.com/i/{n}.png" alt="chart"> you asked for.</p><style>p {{ color: #333; }}</style></body></html>',
        f'<div class="card"><h2>Item {n}</h2><ul><li>Size: M</li><li>Colour: blue</li></ul><table><tr><td>Price</td><td>$19.99</td></tr></table><form action="/cart" method="post"><input type="hidden" name="sku" value="A-{n}"><button>Add</button></form></div>',
    ])


for _ in range(150):
    out("body", xml_docs(), content_type=R.choice(["application/xml", "text/xml", "application/soap+xml; charset=utf-8"]))
for _ in range(100):
    out("body", html_docs(), content_type="text/html; charset=utf-8")
for _ in range(200):
    n = R.randint(1, 99999)
    doc = R.choice([
        {"user": {"id": n, "name": "Ada O'Neil", "email": "ada@example.com", "tags": ["vip", "beta"]}},
        {"items": [{"sku": f"A-{n}", "qty": 2, "price": 19.99}], "note": "Leave at the door; ring twice.", "coupon": None},
        {"query": {"text": "red shoes", "filters": {"size": [40, 41], "brand": "Acme & Co"}}, "page": 2},
        {"webhook": {"url": f"https://hooks.example.com/in/{n}", "events": ["order.created", "order.paid"]}},
        {"address": {"street": "12 Rue de l'Église", "city": "Paris", "zip": "75008"}, "phone": "+33 1 23 45 67 89"},
        {"config": {"retries": 3, "timeout_ms": 2500, "endpoint": "https://api.example.org:8443/v2"}},
        {"html": "<p>Hello <b>world</b></p>", "markdown": "**Hello** _world_"},
        {"matrix": [[1, 2], [3, 4]], "nested": {"a": {"b": {"c": {}}}}, "empty": [], "flag": True},
        {"type": "com.example.order.created", "source": "/orders", "specversion": "1.0", "id": str(n)},
    ])
    out("body", json.dumps(doc, ensure_ascii=False), content_type="application/json")
    out("value", json.dumps(doc, ensure_ascii=False))
for _ in range(100):
    form = {"name": R.choice(["Ada O'Neil", "José Álvarez", "Zoë D'Arcy"]), "city": R.choice(["Köln", "Zürich", "St. John's"]),
            "comment": R.choice(PROSE + SQLISH), "qty": str(R.randint(1, 9))}
    out("body", urllib.parse.urlencode(form), content_type="application/x-www-form-urlencoded")
