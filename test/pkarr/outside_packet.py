# A pkarr signed packet made outside the project: a fresh Ed25519 key (Python's `cryptography`, i.e.
# OpenSSL through another binding), a DNS packet built byte by byte with struct, the BEP44 signable
# `3:seqi<ts>e1:v<len>:<packet>` signed, and the relay body signature ‖ timestamp ‖ packet.
# Prints JSON: the key in hex and in z-base-32 (its own encoder), and the bodies the test PUTs.
import json, struct, sys, time
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

ALPHABET = "ybndrfg8ejkmcpqxot1uwisza345h769"

def z32(data):
    bits = "".join(f"{b:08b}" for b in data)
    bits += "0" * (-len(bits) % 5)
    return "".join(ALPHABET[int(bits[i:i + 5], 2)] for i in range(0, len(bits), 5))

def name(labels):
    out = b""
    for label in labels:
        raw = label.encode()
        out += bytes([len(raw)]) + raw
    return out + b"\x00"

def dns_packet(key, address, ip):
    header = struct.pack(">HHHHHH", 0, 0x8400, 0, 2, 0, 0)  # response, AA; 2 answers
    txt = f"addr={address}".encode()
    rdata = bytes([len(txt)]) + txt
    rr1 = name(["_alknet", key]) + struct.pack(">HHIH", 16, 1, 300, len(rdata)) + rdata  # TXT IN
    rr2 = name([key]) + struct.pack(">HHIH", 1, 1, 300, 4) + bytes(int(x) for x in ip.split("."))  # A IN
    return header + rr1 + rr2

def signed(private, ts, packet):
    signable = b"3:seqi%de1:v%d:" % (ts, len(packet)) + packet
    return private.sign(signable) + struct.pack(">Q", ts) + packet

key = Ed25519PrivateKey.generate()
other = Ed25519PrivateKey.generate()
pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
k = z32(pub)
now = int(time.time() * 1_000_000)
packet = dns_packet(k, "192.0.2.7:4433", "192.0.2.7")
newer_packet = dns_packet(k, "192.0.2.8:4433", "192.0.2.8")
json.dump({
    "publicKey": pub.hex(),
    "z32": k,
    "timestamp": now,
    "good": signed(key, now, packet).hex(),
    "stale": signed(key, now - 1_000_000, packet).hex(),
    "forged": signed(other, now + 5, packet).hex(),
    "newer": signed(key, now + 1_000_000, newer_packet).hex(),
}, sys.stdout)
