"""Raw MIME for POST /email/inbound: broken structure, bad charsets and transfer encodings, huge
headers, nested multiparts, hostile attachment names, random bytes."""

from __future__ import annotations

import base64
import random

from eval.fuzz.texts import WORDS, hostile_text, rand_text, raw_bytes

CHARSETS = [b"utf-8", b"UTF-8", b"iso-8859-1", b"windows-1252", b"utf-16", b"utf-7", b"x-unknown", b"",
            b"utf-8\x00", b"\"utf-8\\\"", b"utf-8\r\n\tX-Injected: 1", b"../../etc/passwd", b"\xff\xfe", b"ascii",
            b"cp65001", b"mbcs", b"idna", b"rot13", b"uu", b"base64", b"punycode", b"zlib", b"utf-32-be"]
ENCODINGS = [b"7bit", b"8bit", b"base64", b"quoted-printable", b"binary", b"x-uuencode", b"", b"BASE64 ", b"\x00"]
FILENAMES = ["../../etc/passwd", "..\\..\\win.ini", "/abs/path.pdf", "a\r\nBcc: x@evil.dk", "\x00.exe",
             "=?utf-8?b?Li4vLi4vZXRjL3Bhc3N3ZA==?=", "CON", "\u202efdp.exe", "ø" * 400, "", ".", "\ufdfa" * 8]


def _enc(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _body(rng: random.Random, encoding: bytes) -> bytes:
    text = _enc(hostile_text(rng))
    if encoding.strip().lower() == b"base64":
        return rng.choice([base64.b64encode(text), b"!!!not base64", b"aGVq=", b"===="])
    if encoding.strip().lower() == b"quoted-printable":
        return rng.choice([text, b"=C3=A6=\r\n=ZZ=", b"=" * 100, b"=C3" * 3000])
    return text


def _headers(rng: random.Random, subject: bytes) -> bytes:
    sender = rng.choice([b"Borger <borger@example.dk>", b"borger@example.dk", b"<>", b"\"\" <@>",
                         b"=?utf-8?q?=C3=86?= <a@b.dk>", _enc(rand_text(rng, 80)), b"MAILER-DAEMON@example.dk",
                         b"noreply@example.dk", b"a@" + b"b" * 5000 + b".dk"])
    lines = [b"From: " + sender, b"To: kontakt@kobenhavn.example", b"Subject: " + subject,
             b"Message-ID: <" + _enc(rand_text(rng, 40)) + b">", b"MIME-Version: 1.0"]
    if rng.random() < 0.3:
        lines.append(b"In-Reply-To: <" + _enc(rand_text(rng, 60)) + b">")
        lines.append(b"References: " + b" ".join(b"<r%d@x>" % i for i in range(rng.choice([1, 50, 5000]))))
    if rng.random() < 0.15:
        lines.append(rng.choice([b"Auto-Submitted: auto-replied", b"Precedence: bulk", b"List-Id: <x>",
                                 b"Auto-Submitted: " + _enc(rand_text(rng, 30))]))
    if rng.random() < 0.1:
        lines.append(b"Date: " + rng.choice([b"Mon, 32 Foo 99999 99:99:99 +9999", b"", b"0", _enc(rand_text(rng, 40))]))
    return b"\r\n".join(lines)


def plain_mail(rng: random.Random) -> bytes:
    charset = rng.choice(CHARSETS)
    encoding = rng.choice(ENCODINGS)
    subject = rng.choice([_enc(rand_text(rng, 200)).replace(b"\r", b"\r\n"), b"=?utf-8?q?" + b"=C3=A6" * 2000 + b"?=",
                          b"=?x-unknown?b?AAAA?=", b"=?utf-8\x00?q?x?=", " ".join(rng.choices(WORDS, k=6)).encode()])
    return (_headers(rng, subject) + b"\r\nContent-Type: text/" + rng.choice([b"plain", b"html", b"x-weird"]) +
            b"; charset=" + charset + b"\r\nContent-Transfer-Encoding: " + encoding + b"\r\n\r\n" + _body(rng, encoding))


def multipart_mail(rng: random.Random) -> bytes:
    name = rng.choice(FILENAMES)
    parts = []
    for _ in range(rng.randint(0, 4)):
        enc = rng.choice(ENCODINGS)
        ctype = rng.choice([b"text/plain", b"text/html", b"application/octet-stream", b"message/rfc822", b"image/png",
                            b"multipart/alternative", b"text/plain; format=flowed; delsp=yes"])
        disp = rng.choice([b"", b"Content-Disposition: attachment; filename=\"" + _enc(name) + b"\"\r\n",
                           b"Content-Disposition: attachment; filename*=utf-8''" + _enc(name) + b"\r\n",
                           b"Content-Disposition: inline; filename*0*=x-unknown''%FF%FE; filename*1=\"x\"\r\n"])
        parts.append(b"Content-Type: " + ctype + b"; charset=" + rng.choice(CHARSETS) + b"\r\n" + disp +
                     b"Content-Transfer-Encoding: " + enc + b"\r\n\r\n" + _body(rng, enc))
    boundary = rng.choice([b"XX", b"", b"\"", b"a" * 200, _enc(rand_text(rng, 20)).replace(b"\r", b"")])
    closing = rng.choice([b"--" + boundary + b"--\r\n", b"", b"--" + boundary + b"\r\n"])
    body = b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts) + closing
    return (_headers(rng, b"Bilag") + b"\r\nContent-Type: multipart/" + rng.choice([b"mixed", b"alternative", b"related",
            b"signed", b"x-mixed-replace"]) + b"; boundary=\"" + boundary + b"\"\r\n\r\n" + body)  # fmt: skip


def nested_mail(rng: random.Random) -> bytes:
    """Multiparts inside multiparts (or message/rfc822 inside message/rfc822) `depth` levels."""
    depth = rng.choice([3, 30, 200, 1000])
    inner = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + _enc(hostile_text(rng))
    for i in range(depth):
        if rng.random() < 0.5:
            b = b"b%d" % i
            inner = (b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n--" + b + b"\r\n" + inner +
                     b"\r\n--" + b + b"--\r\n")
        else:
            inner = b"Content-Type: message/rfc822\r\n\r\nSubject: lag\r\n" + inner
    return _headers(rng, b"Dybt") + b"\r\n" + inner


def huge_header_mail(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.3:
        extra = b"X: y\r\n" * rng.choice([1000, 20_000])
    elif r < 0.6:
        extra = b"X-Long: " + b"a" * rng.choice([100_000, 1_000_000]) + b"\r\n"
    else:
        extra = b"Subject: " + b"\r\n x" * rng.choice([1000, 50_000]) + b"\r\n"
    return extra + _headers(rng, b"Store headers") + b"\r\n\r\nHej"


def mail_message(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.3:
        return plain_mail(rng)
    if r < 0.6:
        return multipart_mail(rng)
    if r < 0.72:
        return nested_mail(rng)
    if r < 0.82:
        return huge_header_mail(rng)
    if r < 0.92:
        return raw_bytes(rng)
    return rng.choice([b"", b"\r\n\r\n", b"From: a@b\r\n", b"\x00" * 100, b"Subject: \xff\xfe\r\n\r\n\xff"])
