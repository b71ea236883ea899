#!/usr/bin/env python3
"""Turns a capture of ipvsadm's netlink traffic (vm/capture.sh, printed as base64 on the
VM console) into annotated codec fixtures under tests/fixtures/netlink/.

    tests/lab/run.sh -- sh /lab/capture.sh > /tmp/capture.out
    tests/lab/capture-fixtures.py /tmp/capture.out

Each fixture holds one netlink message as hex, one line per header or attribute, with the
kernel names of what the line holds. The names come from this script's own table of
include/uapi/linux/ip_vs.h, independent of the Rust codec that the fixtures test.
"""
import base64, os, struct, sys

CMDS = ["UNSPEC", "NEW_SERVICE", "SET_SERVICE", "DEL_SERVICE", "GET_SERVICE", "NEW_DEST",
        "SET_DEST", "DEL_DEST", "GET_DEST", "NEW_DAEMON", "DEL_DAEMON", "GET_DAEMON",
        "SET_CONFIG", "GET_CONFIG", "SET_INFO", "GET_INFO", "ZERO", "FLUSH"]
CMD_ATTRS = {1: "IPVS_CMD_ATTR_SERVICE", 2: "IPVS_CMD_ATTR_DEST", 3: "IPVS_CMD_ATTR_DAEMON",
             4: "IPVS_CMD_ATTR_TIMEOUT_TCP", 5: "IPVS_CMD_ATTR_TIMEOUT_TCP_FIN",
             6: "IPVS_CMD_ATTR_TIMEOUT_UDP"}
INFO_ATTRS = {1: "IPVS_INFO_ATTR_VERSION", 2: "IPVS_INFO_ATTR_CONN_TAB_SIZE"}
SVC = {1: "AF", 2: "PROTOCOL", 3: "ADDR", 4: "PORT (be16)", 5: "FWMARK", 6: "SCHED_NAME",
       7: "FLAGS {flags, mask}", 8: "TIMEOUT", 9: "NETMASK", 10: "STATS", 11: "PE_NAME", 12: "STATS64"}
DEST = {1: "ADDR", 2: "PORT (be16)", 3: "FWD_METHOD", 4: "WEIGHT", 5: "U_THRESH", 6: "L_THRESH",
        7: "ACTIVE_CONNS", 8: "INACT_CONNS", 9: "PERSIST_CONNS", 10: "STATS", 11: "ADDR_FAMILY",
        12: "STATS64", 13: "TUN_TYPE", 14: "TUN_PORT (be16)", 15: "TUN_FLAGS"}
DAEMON = {1: "STATE", 2: "MCAST_IFN", 3: "SYNC_ID", 4: "SYNC_MAXLEN", 5: "MCAST_GROUP",
          6: "MCAST_GROUP6", 7: "MCAST_PORT", 8: "MCAST_TTL"}
STATS = {1: "CONNS", 2: "INPKTS", 3: "OUTPKTS", 4: "INBYTES", 5: "OUTBYTES", 6: "CPS",
         7: "INPPS", 8: "OUTPPS", 9: "INBPS", 10: "OUTBPS", 11: "PAD"}
NESTS = {("IPVS_CMD_ATTR_SERVICE"): ("IPVS_SVC_ATTR_", SVC), ("IPVS_CMD_ATTR_DEST"): ("IPVS_DEST_ATTR_", DEST),
         ("IPVS_CMD_ATTR_DAEMON"): ("IPVS_DAEMON_ATTR_", DAEMON)}


def hexline(data):
    return " ".join(f"{b:02x}" for b in data)


def annotate_attrs(data, names, prefix, depth, out):
    pad = "  " * depth
    while len(data) >= 4:
        length, kind = struct.unpack("<HH", data[:4])
        flags = " NLA_F_NESTED" if kind & 0x8000 else ""
        kind &= 0x3FFF
        name = prefix + names.get(kind, f"unknown {kind}")
        aligned = (length + 3) & ~3
        body = data[4:length]
        if name in NESTS or name.endswith("STATS") or name.endswith("STATS64"):
            out.append(f"{hexline(data[:4]):<48}# {pad}{name}{flags}, {length} bytes, nested:")
            sub_prefix, sub_names = NESTS.get(name, ("IPVS_STATS_ATTR_", STATS))
            annotate_attrs(body, sub_names, sub_prefix, depth + 1, out)
            if aligned > length:
                out.append(f"{hexline(data[length:aligned]):<48}# {pad}padding")
        else:
            value = ""
            if name.endswith(("_NAME", "_IFN")):
                value = f" = \"{body.rstrip(bytes(1)).decode()}\""
            elif name.endswith("ADDR") or name.endswith("GROUP6"):
                value = " (16 bytes; IPv4 in the first 4)"
            elif name.endswith("FLAGS {flags, mask}"):
                flags_value, mask = struct.unpack("<II", body)
                value = f" = {{{flags_value:#x}, {mask:#x}}}"
            elif len(body) == 1:
                value = f" = {body[0]}"
            elif len(body) == 4:
                value = f" = {struct.unpack('<I', body)[0]}"
            elif len(body) == 2:
                value = f" = {struct.unpack('<H', body)[0]} (native), {struct.unpack('>H', body)[0]} (big-endian)"
            elif len(body) == 8:
                value = f" = {struct.unpack('<Q', body)[0]}"
            out.append(f"{hexline(data[:aligned]):<48} # {pad}{name}{value}")
        data = data[aligned:]


def annotate(message, family, title):
    length, kind, flags, seq, pid = struct.unpack("<IHHII", message[:16])
    out = [f"# {title}", f"{hexline(message[:16]):<48}# nlmsghdr: len {length}, type {kind}, flags {flags:#x}, seq {seq}, pid {pid}"]
    if kind == 2:
        (code,) = struct.unpack("<i", message[16:20])
        out.append(f"{hexline(message[16:20]):<48}# nlmsgerr: error {code}")
        out.append(f"{hexline(message[20:36]):<48}# the request's nlmsghdr")
        for start in range(36, length, 16):
            out.append(f"{hexline(message[start:min(start + 16, length)]):<48}# the request's payload")
        return out
    cmd = message[16]
    out.append(f"{hexline(message[16:20]):<48}# genlmsghdr: cmd IPVS_CMD_{CMDS[cmd]}, version {message[17]}")
    names = INFO_ATTRS if CMDS[cmd] in ("SET_INFO", "GET_INFO") else CMD_ATTRS
    annotate_attrs(message[20:length], names, "", 0, out)
    return out


def messages(pcap):
    offset = 24
    while offset < len(pcap):
        _, _, incl, _ = struct.unpack("<IIII", pcap[offset:offset + 16])
        packet = pcap[offset + 16 + 16:offset + 16 + incl]  # 16-byte cooked header first
        offset += 16 + incl
        while len(packet) >= 16:
            (length,) = struct.unpack("<I", packet[:4])
            yield packet[:length]
            packet = packet[(length + 3) & ~3:]


# Attribute bytes that tell messages apart (length, type, value), as they appear on the wire.
TCP = bytes.fromhex("0600020006000000")          # IPVS_SVC_ATTR_PROTOCOL = IPPROTO_TCP
UDP = bytes.fromhex("0600020011000000")          # IPVS_SVC_ATTR_PROTOCOL = IPPROTO_UDP
SCTP = bytes.fromhex("0600020084000000")         # IPVS_SVC_ATTR_PROTOCOL = IPPROTO_SCTP
FWMARK_10 = bytes.fromhex("080005000a000000")    # IPVS_SVC_ATTR_FWMARK = 10
MASQ = bytes.fromhex("0800030000000000")         # IPVS_DEST_ATTR_FWD_METHOD = IP_VS_CONN_F_MASQ
GUE = bytes.fromhex("05000d0001")                # IPVS_DEST_ATTR_TUN_TYPE = GUE
GRE = bytes.fromhex("05000d0002")                # IPVS_DEST_ATTR_TUN_TYPE = GRE
V4_WEB = bytes.fromhex("cb00710a")               # 203.0.113.10
WEIGHT_0 = bytes.fromhex("0800040000000000")     # IPVS_DEST_ATTR_WEIGHT = 0
REQUEST, MULTI = 1, 2

# (file name, title, predicate on (netlink type, flags, genl command or errno, bytes)).
# Requests are picked by what they carry, dumps likewise: the kernel lists in hash order.
WANTED = [
    ("new-service-v4-persistent", "ipvsadm -A -t 203.0.113.10:80 -s wrr -p 300 -M 255.255.255.0",
     lambda k, f, c, m: f & REQUEST and c == 1 and TCP in m and b"wrr" in m),
    ("new-dest-nat-thresholds", "ipvsadm -a -t 203.0.113.10:80 -r 10.1.0.11:8080 -m -w 3 -x 100 -y 50",
     lambda k, f, c, m: f & REQUEST and c == 5 and MASQ in m),
    ("new-service-fwmark-v6-mh", "ipvsadm -A -f 10 -6 -s mh -b mh-fallback,mh-port",
     lambda k, f, c, m: f & REQUEST and c == 1 and FWMARK_10 in m),
    ("new-dest-tun-gue-v6", "ipvsadm -a -f 10 -6 -r [2001:db8::11]:0 -i --tun-type gue --tun-port 6080 --tun-csum -w 2",
     lambda k, f, c, m: f & REQUEST and c == 5 and GUE in m),
    ("new-service-udp-one-packet-sip", "ipvsadm -A -u 203.0.113.11:5060 -s wlc -o -p 120 --pe sip",
     lambda k, f, c, m: f & REQUEST and c == 1 and UDP in m),
    ("new-service-sctp-sh", "ipvsadm -A --sctp-service 203.0.113.12:3868 -s sh -b sh-fallback",
     lambda k, f, c, m: f & REQUEST and c == 1 and SCTP in m),
    ("new-dest-tun-gre", "ipvsadm -a --sctp-service 203.0.113.12:3868 -r 10.1.0.31:3868 -i --tun-type gre -w 4",
     lambda k, f, c, m: f & REQUEST and c == 5 and GRE in m),
    ("error-eexist", "the kernel's answer to a second ipvsadm -A -t 203.0.113.10:80",
     lambda k, f, c, m: k == 2 and c == -17),
    ("set-config", "ipvsadm --set 900 120 300", lambda k, f, c, m: f & REQUEST and c == 12),
    ("new-daemon", "ipvsadm --start-daemon master --mcast-interface sync0 --syncid 5",
     lambda k, f, c, m: f & REQUEST and c == 9),
    ("dump-service-v4", "kernel reply to GET_SERVICE (ipvsadm -Ln): the TCP service",
     lambda k, f, c, m: f & MULTI and c == 1 and TCP in m and V4_WEB in m),
    ("dump-service-fwmark-v6", "kernel reply to GET_SERVICE (ipvsadm -Ln): the fwmark service",
     lambda k, f, c, m: f & MULTI and c == 1 and FWMARK_10 in m),
    ("dump-dest-nat", "kernel reply to GET_DEST (ipvsadm -Ln): the NAT real server",
     lambda k, f, c, m: f & MULTI and c == 5 and MASQ in m and not WEIGHT_0 in m),
    ("dump-dest-tun-gue", "kernel reply to GET_DEST (ipvsadm -Ln): the GUE real server",
     lambda k, f, c, m: f & MULTI and c == 5 and GUE in m),
    ("get-info-reply", "kernel reply to GET_INFO", lambda k, f, c, m: not f & REQUEST and c == 14),
    ("get-config-reply", "kernel reply to GET_CONFIG (ipvsadm -L --timeout)",
     lambda k, f, c, m: not f & REQUEST and c == 12),
    ("dump-daemon", "kernel reply to GET_DAEMON (ipvsadm -L --daemon)", lambda k, f, c, m: f & MULTI and c == 9),
    ("set-dest-weight-0", "ipvsadm -e -t 203.0.113.10:80 -r 10.1.0.11:8080 -m -w 0",
     lambda k, f, c, m: f & REQUEST and c == 6),
    ("del-dest", "ipvsadm -d -t 203.0.113.10:80 -r 10.1.0.11:8080", lambda k, f, c, m: f & REQUEST and c == 7),
]


def main():
    text = open(sys.argv[1]).read().replace("\r", "")
    encoded = text.split("capture-begin\n", 1)[1].split("capture-end", 1)[0]
    pcap = base64.b64decode(encoded)
    family = None
    seen = {}
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "netlink")
    os.makedirs(out_dir, exist_ok=True)
    written = 0
    for message in messages(pcap):
        kind, flags = struct.unpack("<HH", message[4:8])
        if kind == 0x10 and len(message) > 20 and message[16] == 1:  # CTRL_CMD_NEWFAMILY: find IPVS's id
            attrs = message[20:]
            while len(attrs) >= 4 and family is None:
                length, attr = struct.unpack("<HH", attrs[:4])
                if attr & 0x3FFF == 1:  # CTRL_ATTR_FAMILY_ID
                    family = struct.unpack("<H", attrs[4:6])[0]
                attrs = attrs[(length + 3) & ~3:]
            continue
        if kind == 2:
            cmd = struct.unpack("<i", message[16:20])[0]
        elif kind == family:
            cmd = message[16]
        else:
            continue
        for index, (name, title, wanted) in enumerate(WANTED):
            if wanted(kind, flags, cmd, message):
                count = seen.get(index, 0)
                seen[index] = count + 1
                if count == 0:
                    path = os.path.join(out_dir, f"{name}.hex")
                    with open(path, "w") as f:
                        f.write("\n".join(annotate(message, family, title)) + "\n")
                    written += 1
    missing = [w[0] for i, w in enumerate(WANTED) if i not in seen]
    print(f"{written} fixtures written; IPVS family id {family}; missing: {missing or 'none'}")


main()
