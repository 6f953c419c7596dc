#!/usr/bin/env python3
"""Builds benign.txt: realistic values users send to APIs, written as they would appear in a
query string (percent-encoded where a browser would encode). Deterministic: re-running gives
the same file. Sources: hand-written names, search phrases, prose, JSON documents, addresses,
URLs and file names, combined; plus description strings of the OpenAPI examples in
../openapi (Apache-2.0) when present.

    python3 shared/testdata/benign/gen_benign.py > shared/testdata/benign/benign.txt
"""
import json, random, urllib.parse, os, re

rng = random.Random(20261122)

names = ["O'Brien", "D'Angelo", "O'Connor-Smith", "Mary-Jane O'Neil", "N'Golo Kanté", "Jean-Luc d'Artagnan",
         "Dwayne 'The Rock' Johnson", "Shaquille O'Neal", "Sinéad O'Connor", "Miles O'Keeffe", "L'Oréal Paris",
         "Ngũgĩ wa Thiong'o", "Renée Zellweger", "José Álvarez", "Zoë Saldaña", "Björk Guðmundsdóttir",
         "Françoise d'Eaubonne", "Conan O'Brien", "Georgia O'Keeffe", "Eugene O'Neill", "Dolores O'Riordan",
         "Ta'Quan Smith", "De'Aaron Fox", "Le'Veon Bell", "Ke'Bryan Hayes", "Mu'ammar", "Ma'ale Adumim"]
phrases = ["select a plan", "drop shipping from china", "union station to times square", "delete my account",
           "how to update my address", "order by date", "sleep mask", "cat toys & accessories", "rock & roll",
           "salt & pepper", "black & white photos", "tom & jerry", "AT&T", "Q&A", "R&D budget", "1/2 inch pipe",
           "5' 11\" tall", "6'2\" height", "size 10-12", "50% off", "fish & chips; soda", "yes | no", "where is my order?",
           "who am i", "what's new", "it's 5 o'clock somewhere", "don't drop the ball", "let's select the best one",
           "the union of two sets", "from 1 to 5", "or else", "and/or", "either/or", "more or less", "1 or 2 bedrooms",
           "3 and 4 year olds", "select all", "insert coin", "update firmware", "execute order 66", "table for two",
           "where the wild things are", "from russia with love", "like a rolling stone", "having fun", "group by age",
           "limit 10 per customer", "null and void", "true or false quiz", "not in stock", "between two ferns",
           "sleep (8 hours)", "benchmark results 2024", "version 2.0 release notes", "user guide", "database design",
           "ping pong table", "cat 5 cable", "echo dot", "find my iphone", "type c charger", "more info", "head and shoulders",
           "tail lights", "kill bill", "date night ideas", "time square", "set of 3", "test prep", "net worth", "dir en grey",
           "curl up and dye salon", "bash party", "python 3 tutorial", "perl jam", "ruby on rails", "id card holder",
           "which one is better", "print shop", "touch screen", "move out cleaning", "copy paper", "start menu",
           "script writing tips", "alert system", "prompt engineering", "confirm booking", "eval copy", "on sale now",
           "onion rings", "online only", "one = one", "a < b", "x > 3", "3 < x < 5", "a <= b", "c++ programming", "c# & .net",
           "f(x) = 2x + 1", "e = mc^2", "i <3 nyc", "<3", ":-)", ";-)", "^_^", "¯\\_(ツ)_/¯", "#blessed", "@john_doe", "100%",
           "~/documents", "c:\\users\\public", "...", "wait...", "hmm...", "etc.", "i.e.", "e.g. apples",
           "50/50", "24/7 support", "9-5 job", "$100 gift card", "€50", "£20 off", "¥1000", "price: $9.99",
           "#1 best seller", "#2 pencil", "number #3", "item (blue)", "(optional)", "[draft]", "{placeholder}",
           "\"exact phrase\"", "'single quoted'", "it's", "you're", "we'll", "o'clock", "rock 'n' roll", "ma'am",
           "y'all", "'90s music", "80's fashion", "the '60s", "ain't", "don't stop", "can't wait", "won't fix"]
prose = ["Thanks for the quick delivery; the box was a bit damaged but the item is fine.",
         "I'd like to change my order from the blue one to the red one, if that's possible.",
         "Please select the size you want and add it to the cart.",
         "Our union meeting is on Tuesday; drop by if you can.",
         "The script for the play is due Friday, so please confirm by Thursday.",
         "Where can I find the user manual for version 3? The link on page 2 is broken.",
         "Order #12345 arrived today - great quality, would buy again!",
         "Can you update my shipping address to 10 Downing St., London?",
         "It's a 50/50 split between rent & utilities.",
         "Hi, I'm having trouble logging in. It says \"invalid password\" even though it's correct.",
         "Set the temperature to 350°F and bake for 20-25 minutes.",
         "Drop the price by 10% and we have a deal.",
         "Meeting notes: 1) budget 2) timeline 3) next steps",
         "The sum of 2 and 2 is 4, and 4 > 3.",
         "Use the command line to list files (ls on Linux, dir on Windows).",
         "He said: 'Let's meet at 5 or 6, whichever works.'",
         "Rating: 4/5 - comfy but runs small; order a size up.",
         "We're closed on public holidays & Sundays.",
         "Is this compatible with iOS 17 and Android 14?",
         "Great product!!! <3 <3 <3",
         "Returns accepted within 30 days (unused items only).",
         "My name is O'Hara and I live at 221B Baker St.",
         "Select your country, then your region, then your city.",
         "Delete the old files from the desktop and empty the trash.",
         "The cat sat on the mat; the dog slept by the door.",
         "Dear team, please find attached the Q3 report & the forecast.",
         "Password must be 8-64 characters & include a number.",
         "Call me at +1 (555) 010-9999 after 6pm.",
         "Who's the author of \"The Old Man and the Sea\"?",
         "If x = 1 and y = 2, what is x + y?"]
json_docs = [{"name": "Ada Lovelace", "email": "ada@example.com", "tags": ["math", "computing"]},
             {"query": "shoes", "filters": {"size": [9, 10], "color": "red"}, "page": 2},
             {"comment": "It's great, isn't it?", "rating": 5},
             {"address": {"street": "1 Infinite Loop", "city": "Cupertino", "zip": "95014"}},
             {"items": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}], "coupon": "SAVE10"},
             {"title": "Union of sets", "body": "A union B contains every element of A or B."},
             {"op": "replace", "path": "/name", "value": "O'Brien"},
             {"html": "<p>Hello <b>world</b></p>", "format": "rich"},
             {"link": "<a href=\"https://example.com/docs\">docs</a>"},
             {"search": "select * wildcard patterns", "lang": "en"}]
urls = ["https://example.com/path?x=1&y=2", "https://shop.example.org/cart#checkout", "http://localhost:8080/",
        "https://cdn.example.net/img/logo.png?v=3", "/account/settings", "mailto:support@example.com",
        "https://www.google.com/search?q=o%27brien", "ftp://files.example.com/pub/readme.txt",
        "https://example.com/a/b/../c", "https://api.example.com/v1/users/42?fields=name,email"]
files = ["report (final).pdf", "my_file.tar.gz", "IMG_2024-05-01.jpg", "résumé.docx", "budget 2024 v2.xlsx",
         "notes.txt", "photo (1).png", "song - artist.mp3", "archive.zip", "data.csv"]
addresses = ["123 Main St., Apt #4", "PO Box 1234", "10 Downing Street, London SW1A 2AA", "1600 Pennsylvania Ave NW",
             "Rue de l'Église 5, 1000 Bruxelles", "Calle 8 #45-67, Bogotá", "Flat 3/2, 14 Glasgow Rd"]
emails = ["john.o'reilly@example.com", "ann+news@example.org", "support@example.co.uk", "first.last@sub.example.io"]
phones = ["+1 (555) 123-4567", "+44 20 7946 0958", "555-0100", "+33 1 23 45 67 89"]
dates = ["2024-05-01", "05/01/2024", "1 May 2024", "2024-05-01T12:30:00Z", "Mon, 01 May 2024 12:30:00 GMT"]
odata = ["Price gt 5 and Name eq 'Milk'", "startswith(Name, 'A')", "year(BirthDate) eq 1990", "Rating ge 4 or Featured eq true"]

out = []
def add(v):
    out.append(v)

for group in (names, phrases, prose, urls, files, addresses, emails, phones, dates, odata):
    for v in group:
        add(v)
for d in json_docs:
    add(json.dumps(d))

# Combinations: search phrases with names, sizes, pages; reviews.
adjectives = ["red", "vintage", "organic", "large", "kids'", "men's", "women's", "handmade", "used", "new"]
nouns = ["shoes", "jacket", "lamp", "table", "mug", "poster", "necklace", "guitar", "book", "phone case"]
for _ in range(600):
    a, n = rng.choice(adjectives), rng.choice(nouns)
    form = rng.randrange(8)
    if form == 0:
        add(f"{a} {n}")
    elif form == 1:
        add(f"{a} {n} size {rng.randint(1, 14)}")
    elif form == 2:
        add(f"{rng.choice(names)}'s {n}")
    elif form == 3:
        add(f"{n} for {rng.choice(['mom', 'dad', 'kids', 'him', 'her'])} & {rng.choice(['friends', 'family'])}")
    elif form == 4:
        add(f"\"{a} {n}\" {rng.choice(['-used', 'under $50', 'free shipping', 'near me'])}")
    elif form == 5:
        add(f"{rng.randint(1, 20)}\" {n}")
    elif form == 6:
        add(f"{rng.choice(phrases)} {n}")
    else:
        add(f"{n} ({a}) - {rng.randint(1, 99)}% off")

# Everything again as a browser would percent-encode it in a query string.
encoded = [urllib.parse.quote_plus(v, safe="") for v in list(out)]
out.extend(encoded)

# Description strings of the OpenAPI examples, when the spec files sit beside this folder.
spec_dir = os.path.join(os.path.dirname(__file__), "..", "openapi")
for root, _, fs in os.walk(spec_dir):
    for f in sorted(fs):
        text = open(os.path.join(root, f), encoding="utf-8", errors="replace").read()
        for m in re.finditer(r'"(?:description|summary)"\s*:\s*"([^"]{8,300})"', text):
            add(m.group(1))

seen = set()
for v in out:
    v = v.replace("\n", " ").strip()
    if v and not v.startswith("#") and v not in seen:
        seen.add(v)
        print(v)
