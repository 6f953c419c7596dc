#!/usr/bin/env python3
"""Regenerates sample-access.json: deterministic nginx JSON access-log lines for the demo.

Run from this directory: python3 gen_sample.py > sample-access.json
The log_format is the one in deploy/nginx/picket.conf.
"""
import json
import random
import uuid

rng = random.Random(20261121)
START = 1_795_219_200  # 2026-11-21T00:00:00Z
PUBLIC = [f"81.2.69.{i}" for i in range(10, 40)] + [f"151.101.{i}.7" for i in range(1, 15)]
PRIVATE = [f"10.0.{i}.12" for i in range(1, 6)]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64)", "okhttp/4.12.0", "python-requests/2.32.3", "ShopApp/3.4 (iOS 18.1)"]

def shop(rng):
    uid = rng.randint(1000, 1400)
    choices = [
        (30, "GET", f"/api/v1/products?page={rng.randint(1, 9)}", 200),
        (25, "GET", f"/api/v1/products/{rng.randint(1, 900)}", 200),
        (12, "GET", f"/api/v1/users/{uid}", 200),
        (10, "GET", f"/api/v1/users/{uid}/orders", 200),
        (8, "GET", f"/api/v1/orders/{uuid.UUID(int=rng.getrandbits(128), version=4)}", 200),
        (6, "POST", "/api/v1/orders", 201),
        (6, "PUT", "/api/v1/cart", 200),
        (5, "GET", f"/api/v1/search?q=blue+shoes&limit={rng.choice([10, 20])}", 200),
        (2, "GET", f"/api/v1/products/{rng.randint(5000, 9000)}", 404),
    ]
    return "shop.example.com", choices

def auth(rng):
    return "auth.example.com", [
        (60, "POST", "/oauth/token", 200),
        (15, "POST", "/oauth/token", 401),
        (20, "GET", "/.well-known/jwks.json", 200),
        (5, "POST", "/v2/login", 200),
    ]

def admin(rng):
    day = rng.choice(["2026-11-19", "2026-11-20", "2026-11-21"])
    return "admin.example.com", [
        (50, "GET", f"/admin/reports/{day}", 200),
        (40, "GET", "/healthz", 200),
        (10, "DELETE", f"/admin/sessions/{rng.getrandbits(64):016x}", 204),
    ]

def pick(rng, weighted):
    total = sum(w for w, *_ in weighted)
    x = rng.uniform(0, total)
    for w, *rest in weighted:
        x -= w
        if x <= 0:
            return rest
    return weighted[-1][1:]

for i in range(1500):
    t = START + i * 0.4 + rng.random() * 0.3
    host, weighted = rng.choices([shop, auth, admin], weights=[70, 20, 10])[0](rng)
    method, uri, status = pick(rng, weighted)
    if status == 200 and rng.random() < 0.01:
        status = 500
    internal = host == "admin.example.com"
    line = {
        "time_iso8601": None,
        "msec": f"{t:.3f}",
        "remote_addr": rng.choice(PRIVATE if internal else PUBLIC),
        "host": host,
        "scheme": "https",
        "request_method": method,
        "request_uri": uri,
        "status": str(status),
        "body_bytes_sent": str(rng.randint(80, 9000) if status < 300 else rng.randint(20, 200)),
        "request_length": str(rng.randint(200, 900)),
        "request_time": f"{rng.uniform(0.002, 0.25):.3f}",
        "http_user_agent": rng.choice(AGENTS),
        "http_authorization": "" if uri.startswith(("/healthz", "/.well-known")) else "redacted",
    }
    del line["time_iso8601"]
    print(json.dumps(line, separators=(",", ":")))
