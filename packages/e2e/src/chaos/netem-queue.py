#!/usr/bin/env python3
"""netem's loss and delay in user space, for kernels built without sch_netem (docs/chaos.md).

Usage: netem-queue.py QUEUE LOSS_PERCENT DELAY_MS

Reads the packets iptables hands to NFQUEUE number QUEUE (metadata only) and, like
`tc qdisc ... netem loss L% delay D ms`, drops each with probability L % and lets every other
one through D ms after it arrived, in arrival order. Run it inside the network namespace whose
iptables rules queue the packets (netlink is per namespace). Standard library only: nfnetlink's
queue messages are built by hand (linux/netfilter/nfnetlink_queue.h). Prints "ready" once bound.
"""
import heapq
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NF_DROP, NF_ACCEPT = 0, 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2


def attribute(kind: int, payload: bytes) -> bytes:
    header = struct.pack("=HH", 4 + len(payload), kind)
    return header + payload + b"\0" * ((4 - len(payload) % 4) % 4)


def message(kind: int, queue: int, attributes: bytes, flags: int, seq: int) -> bytes:
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attributes
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, flags, seq, 0) + body


def main() -> None:
    queue, loss, delay = int(sys.argv[1]), float(sys.argv[2]) / 100, float(sys.argv[3]) / 1000
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((0, 0))
    config = [
        attribute(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, socket.AF_INET)),
        attribute(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META)),
        attribute(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", 8192)),
    ]
    for seq, attrs in enumerate(config, start=1):
        sock.send(message(NFQNL_MSG_CONFIG, queue, attrs, NLM_F_REQUEST | NLM_F_ACK, seq))
        answer = sock.recv(65536)
        kind = struct.unpack_from("=H", answer, 4)[0]
        if kind == NLMSG_ERROR and struct.unpack_from("=i", answer, 16)[0] != 0:
            sys.exit(f"netem-queue: configuring queue {queue} failed (errno {-struct.unpack_from('=i', answer, 16)[0]})")
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    pending: list[tuple[float, int, int]] = []  # (release time, arrival order, packet id)
    order = 0
    while True:
        timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else None
        readable, _, _ = select.select([sock], [], [], timeout)
        if readable:
            try:
                data = sock.recv(1 << 16)
            except OSError:
                continue  # ENOBUFS: the kernel dropped queued packets, as a full link would
            offset = 0
            while offset + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, offset)
                if length < 16:
                    break
                if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    at = offset + 20
                    while at + 4 <= offset + length:
                        attr_length, attr_kind = struct.unpack_from("=HH", data, at)
                        if attr_length < 4:
                            break
                        if attr_kind & 0x7FFF == NFQA_PACKET_HDR:
                            packet_id = struct.unpack_from("!I", data, at + 4)[0]
                            if random.random() < loss:
                                sock.send(message(NFQNL_MSG_VERDICT, queue, attribute(NFQA_VERDICT_HDR, struct.pack("!II", NF_DROP, packet_id)), NLM_F_REQUEST, 0))
                            else:
                                order += 1
                                heapq.heappush(pending, (time.monotonic() + delay, order, packet_id))
                            break
                        at += (attr_length + 3) & ~3
                offset += (length + 3) & ~3
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, packet_id = heapq.heappop(pending)
            sock.send(message(NFQNL_MSG_VERDICT, queue, attribute(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet_id)), NLM_F_REQUEST, 0))


if __name__ == "__main__":
    main()
