#!/usr/bin/env python3
"""hb_handshake.py GUEST: ferry-guest's heartbeat ask, step by step, from a
fresh UDP port. Prints: answered=0|1 before=N wrong=N after=N, the
heartbeats received in 0.5 s after only asking, after returning a wrong
cookie, and after returning the right one."""
import socket, sys, time

guest = (sys.argv[1], 7777)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 0))
s.settimeout(0.05)

def count(seconds):
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            d = s.recv(64)
        except socket.timeout:
            continue
        n += d.startswith(b"FERRYHB1")
    return n

s.sendto(b"FERRYHB?" + bytes(8), guest)
cookie, end = None, time.monotonic() + 3
while cookie is None and time.monotonic() < end:
    try:
        d = s.recv(64)
    except socket.timeout:
        continue
    if d.startswith(b"FERRYHB!") and len(d) >= 16:
        cookie = d[8:16]
before = count(0.5)
if cookie:
    s.sendto(b"FERRYHB+" + bytes(b ^ 0xFF for b in cookie), guest)
wrong = count(0.5)
if cookie:
    s.sendto(b"FERRYHB+" + cookie, guest)
after = count(0.5)
print(f"answered={int(cookie is not None)} before={before} wrong={wrong} after={after}")
