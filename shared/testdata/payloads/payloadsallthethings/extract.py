#!/usr/bin/env python3
"""Extracts payloads from PayloadsAllTheThings pages and lists into JSON lines, one file per
family and part (dev / held-out). Run from this directory:

    python3 extract.py /path/to/PayloadsAllTheThings-copy

Rules (the same for every family, chosen before looking at any payload):
- `.txt` lists (Intruder lists, Files): every non-empty line is a payload (`kind: value`).
- `.md` pages: prose is skipped; only fenced code blocks are read.
  - A block tagged `xml`, `http` or `json`, or whose first line is an XML prolog, a DOCTYPE or an
    HTTP request line (`METHOD /path HTTP/1.x`), is one payload: a document (`kind: body`, with
    the content type it is written in) or a raw request (`kind: request`).
  - A block that starts with an HTTP status line (`HTTP/1.1 200 OK`) shows a server's answer,
    not something sent to it, and is skipped.
  - A block tagged with a programming language (java, groovy, js, javascript, php, python, py,
    rs, bash, yaml, ini) is shown as one unit and is one payload (`kind: body`, text/plain).
  - Any other block (untagged, `powershell`, `ps1`: the pages' convention for payload lists)
    gives one payload per line, except lines that are comments (`#`, `//`) or lone brackets.
- Duplicates within a family are dropped.
- Held out: a payload whose SHA-256 (of its text) starts with a byte divisible by 3 goes to
  `holdout.jsonl`, the rest to `dev.jsonl`. Held-out payloads are never read while tuning.
"""
import hashlib
import json
import os
import re
import sys

# family (output directory) -> source files, relative to the PayloadsAllTheThings copy
FAMILIES = {
    "crlf-injection": ["crlf-injection/README.md", "crlf-injection/crlfinjection.txt"],
    "file-inclusion": [
        "file-inclusion/README.md",
        "file-inclusion/Wrappers.md",
        "file-inclusion/JHADDIX_LFI.txt",
        "file-inclusion/php-filter-iconv.txt",
        "file-inclusion/simple-check.txt",
    ],
    "insecure-deserialization-java": ["insecure-deserialization/Java.md"],
    "insecure-deserialization-php": ["insecure-deserialization/PHP.md"],
    "java-expression-injection": [
        "java-expression-injection/Java.md",
        "java-expression-injection/Log4Shell.md",
    ],
    "prototype-pollution": ["prototype-pollution/README.md"],
    "request-smuggling": ["request-smuggling/README.md"],
    "server-side-include-injection": ["server-side-include-injection/ssi_esi.txt"],
    "server-side-request-forgery": [
        "server-side-request-forgery/README.md",
        "server-side-request-forgery/SSRF-Cloud-Instances.md",
    ],
    "xxe-injection": [
        "xxe-injection/README.md",
        "xxe-injection/XXE_Fuzzing.txt",
        "xxe-injection/xml-attacks.txt",
    ],
}

CODE_LANGS = {"java", "groovy", "js", "javascript", "php", "python", "py", "rs", "bash", "yaml", "ini"}
REQUEST_LINE = re.compile(r"^[A-Z]{3,10} \S+ HTTP/\d(\.\d)?\s*$")
STATUS_LINE = re.compile(r"^HTTP/\d(\.\d)? \d{3}\b")
FENCE = re.compile(r"^(\s*)```\s*([A-Za-z0-9_+-]*)\s*$")


def blocks(text):
    """(lang, first line number, lines) of each fenced block."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2).lower()
        start = i + 1
        j = start
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            j += 1
        body = [l[len(indent):] if l.startswith(indent) else l.lstrip() for l in lines[start:j]]
        yield lang, start + 1, body
        i = j + 1


def md_payloads(text, src):
    for lang, line_no, body in blocks(text):
        body = [l.rstrip("\r") for l in body]
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
            line_no += 1
        if not body:
            continue
        first = body[0].strip()
        whole = "\n".join(body)
        where = f"{src}:{line_no}"
        if STATUS_LINE.match(first):
            continue
        if lang == "http" or REQUEST_LINE.match(first):
            yield {"kind": "request", "text": whole.replace("\n", "\r\n"), "src": where}
        elif lang == "xml" or first.startswith("<?xml") or first.upper().startswith("<!DOCTYPE"):
            yield {"kind": "body", "content_type": "application/xml", "text": whole, "src": where}
        elif lang == "json":
            yield {"kind": "body", "content_type": "application/json", "text": whole, "src": where}
        elif lang in CODE_LANGS:
            yield {"kind": "body", "content_type": "text/plain", "text": whole, "src": where}
        else:
            for k, line in enumerate(body):
                s = line.strip()
                if not s or s.startswith("#") or s.startswith("//") or s in ("{", "}", "[", "]", "(", ")"):
                    continue
                yield {"kind": "value", "text": s, "src": f"{src}:{line_no + k}"}


def txt_payloads(text, src):
    for k, line in enumerate(text.split("\n")):
        s = line.rstrip("\r")
        if s.strip():
            yield {"kind": "value", "text": s, "src": f"{src}:{k + 1}"}


def held_out(text):
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()[0] % 3 == 0


def main():
    root = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    for family, sources in FAMILIES.items():
        seen = set()
        parts = {"dev": [], "holdout": []}
        for src in sources:
            with open(os.path.join(root, src), encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
            gen = md_payloads(text, src) if src.endswith(".md") else txt_payloads(text, src)
            for p in gen:
                if p["text"] in seen:
                    continue
                seen.add(p["text"])
                parts["holdout" if held_out(p["text"]) else "dev"].append(p)
        out = os.path.join(here, family)
        os.makedirs(out, exist_ok=True)
        for part, items in parts.items():
            with open(os.path.join(out, f"{part}.jsonl"), "w", encoding="utf-8") as f:
                for p in items:
                    f.write(json.dumps(p, ensure_ascii=False) + "\n")
        print(f"{family}: {len(parts['dev'])} dev, {len(parts['holdout'])} held out")


if __name__ == "__main__":
    main()
