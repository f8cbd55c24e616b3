#!/usr/bin/env python3
"""A pymavlink ground station flying a Vigie simulated drone.

Listens on UDP like a GCS, waits for the drone's heartbeat, switches to
GUIDED, arms, takes off, sends a go-to (DO_REPOSITION as COMMAND_INT),
uploads a mission (mission_type 0) with the mission protocol, reads it back,
flies it in AUTO and checks the drone gets there, then sends RTL.

Every wait is bounded; any failure exits 1 with a message saying what did
not happen. Run:

    python3 tests/interop/pymavlink_ground.py --listen 127.0.0.1:14550
    vigie sim drones --ground 127.0.0.1:14550      # in another shell
"""

import argparse
import math
import os
import sys
import time

os.environ.setdefault("MAVLINK20", "1")
os.environ.setdefault("MAVLINK_DIALECT", "ardupilotmega")

from pymavlink import mavutil  # noqa: E402

M_PER_DEG_LAT = 111_200.0


class Failure(Exception):
    pass


def log(text):
    print(f"[pymavlink-ground {time.monotonic() - START:6.1f}s] {text}", flush=True)


START = time.monotonic()


def offset(lat, lon, east_m, north_m):
    return (
        lat + north_m / M_PER_DEG_LAT,
        lon + east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat))),
    )


def distance_m(lat1, lon1, lat2, lon2):
    dn = (lat2 - lat1) * M_PER_DEG_LAT
    de = (lon2 - lon1) * M_PER_DEG_LAT * math.cos(math.radians(lat1))
    return math.hypot(de, dn)


def recv(conn, types, timeout, what, cond=None):
    """The next message of `types` from our drone satisfying `cond`."""
    wanted = types if isinstance(types, list) else [types]
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failure(f"timed out after {timeout:.0f} s waiting for {what}")
        msg = conn.recv_match(type=wanted + ["STATUSTEXT"], blocking=True, timeout=min(left, 0.5))
        if msg is None:
            continue
        if msg.get_srcSystem() != conn.target_system:
            continue
        if msg.get_type() == "STATUSTEXT":
            log(f"drone says: {msg.text}")
            if "STATUSTEXT" not in wanted:
                continue
        if cond is None or cond(msg):
            return msg


def command_ack(conn, command, what, timeout=5):
    ack = recv(conn, ["COMMAND_ACK", "STATUSTEXT"], timeout, f"COMMAND_ACK for {what}",
               lambda m: m.get_type() == "COMMAND_ACK" and m.command == command)
    if ack.result != mavutil.mavlink.MAV_RESULT_ACCEPTED:
        raise Failure(f"{what} refused: MAV_RESULT {ack.result}")
    log(f"{what}: accepted")


def position(conn, timeout=5):
    p = recv(conn, "GLOBAL_POSITION_INT", timeout, "GLOBAL_POSITION_INT")
    return p.lat / 1e7, p.lon / 1e7, p.relative_alt / 1000.0


def wait_mode(conn, name, timeout=5):
    number = conn.mode_mapping()[name]
    recv(conn, "HEARTBEAT", timeout, f"a heartbeat in {name}",
         lambda m: m.get_srcComponent() == 1 and m.custom_mode == number)
    log(f"heartbeat shows {name} (custom_mode {number})")


def set_mode(conn, name):
    number = conn.mode_mapping()[name]
    conn.mav.command_long_send(conn.target_system, conn.target_component,
                               mavutil.mavlink.MAV_CMD_DO_SET_MODE, 0,
                               mavutil.mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, number,
                               0, 0, 0, 0, 0)
    command_ack(conn, mavutil.mavlink.MAV_CMD_DO_SET_MODE, f"mode {name}")
    wait_mode(conn, name)


def wait_near(conn, lat, lon, alt, radius_m, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        plat, plon, palt = position(conn)
        d = distance_m(plat, plon, lat, lon)
        if d <= radius_m and abs(palt - alt) <= 0.5:
            log(f"{what}: within {d:.1f} m at {palt:.1f} m")
            return
    raise Failure(f"{what}: not within {radius_m} m after {timeout} s (last {d:.1f} m away, {palt:.1f} m up)")


def upload_mission(conn, items):
    """The GCS side of the mission upload protocol."""
    mission_type = mavutil.mavlink.MAV_MISSION_TYPE_MISSION
    conn.mav.mission_count_send(conn.target_system, conn.target_component, len(items), mission_type)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        msg = recv(conn, ["MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"], 5,
                   "a mission item request or MISSION_ACK")
        if msg.get_type() == "MISSION_ACK":
            if msg.type != mavutil.mavlink.MAV_MISSION_ACCEPTED:
                raise Failure(f"mission upload refused: MAV_MISSION_RESULT {msg.type}")
            log(f"mission of {len(items)} items accepted")
            return
        seq = msg.seq
        if seq >= len(items):
            raise Failure(f"drone asked for item {seq} of {len(items)}")
        lat, lon, alt, command = items[seq]
        conn.mav.mission_item_int_send(
            conn.target_system, conn.target_component, seq,
            mavutil.mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, command,
            0, 1, 0, 0, 0, 0, int(round(lat * 1e7)), int(round(lon * 1e7)), alt, mission_type)
    raise Failure("mission upload did not finish within 15 s")


def download_mission(conn):
    conn.mav.mission_request_list_send(conn.target_system, conn.target_component,
                                       mavutil.mavlink.MAV_MISSION_TYPE_MISSION)
    count = recv(conn, "MISSION_COUNT", 5, "MISSION_COUNT").count
    items = []
    for seq in range(count):
        conn.mav.mission_request_int_send(conn.target_system, conn.target_component, seq,
                                          mavutil.mavlink.MAV_MISSION_TYPE_MISSION)
        it = recv(conn, "MISSION_ITEM_INT", 5, f"MISSION_ITEM_INT {seq}", lambda m, s=seq: m.seq == s)
        items.append(it)
    conn.mav.mission_ack_send(conn.target_system, conn.target_component,
                              mavutil.mavlink.MAV_MISSION_ACCEPTED, mavutil.mavlink.MAV_MISSION_TYPE_MISSION)
    return items


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:14550", help="UDP address to listen on, HOST:PORT")
    args = ap.parse_args()

    conn = mavutil.mavlink_connection(f"udpin:{args.listen}", source_system=255, source_component=190)
    log(f"listening on udp {args.listen}")
    hb = None
    deadline = time.monotonic() + 15
    while hb is None:
        if time.monotonic() > deadline:
            raise Failure("no autopilot heartbeat within 15 s")
        m = conn.recv_match(type="HEARTBEAT", blocking=True, timeout=0.5)
        if m is not None and m.get_srcComponent() == 1:
            hb = m
    conn.target_system = hb.get_srcSystem()
    conn.target_component = 1
    if hb.autopilot != mavutil.mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA or hb.type != mavutil.mavlink.MAV_TYPE_QUADROTOR:
        raise Failure(f"not an ArduCopter quadrotor: autopilot {hb.autopilot} type {hb.type}")
    # mavutil decodes the mode from heartbeats, as MAVProxy does.
    log(f"heartbeat from system {conn.target_system}: ArduCopter quadrotor, mode {conn.flightmode}")

    home_lat, home_lon, _ = position(conn)
    set_mode(conn, "GUIDED")

    conn.arducopter_arm()
    command_ack(conn, mavutil.mavlink.MAV_CMD_COMPONENT_ARM_DISARM, "arm")
    recv(conn, "HEARTBEAT", 5, "an armed heartbeat",
         lambda m: m.get_srcComponent() == 1 and m.base_mode & mavutil.mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
    log("motors armed")

    conn.mav.command_long_send(conn.target_system, conn.target_component,
                               mavutil.mavlink.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 0, 10)
    command_ack(conn, mavutil.mavlink.MAV_CMD_NAV_TAKEOFF, "takeoff to 10 m")
    wait_near(conn, home_lat, home_lon, 10.0, 1.5, 20, "takeoff")

    goto_lat, goto_lon = offset(home_lat, home_lon, 0.0, 25.0)
    conn.mav.command_int_send(conn.target_system, conn.target_component,
                              mavutil.mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                              mavutil.mavlink.MAV_CMD_DO_REPOSITION, 0, 0,
                              -1, 0, 0, float("nan"), int(goto_lat * 1e7), int(goto_lon * 1e7), 12)
    command_ack(conn, mavutil.mavlink.MAV_CMD_DO_REPOSITION, "go-to 25 m north")
    wait_near(conn, goto_lat, goto_lon, 12.0, 1.5, 25, "go-to")

    wp1 = offset(home_lat, home_lon, 20.0, 25.0)
    wp2 = offset(home_lat, home_lon, 20.0, 5.0)
    nav_wp = mavutil.mavlink.MAV_CMD_NAV_WAYPOINT
    items = [
        (home_lat, home_lon, 0.0, nav_wp),  # item 0: home, as ArduPilot expects
        (wp1[0], wp1[1], 12.0, nav_wp),
        (wp2[0], wp2[1], 14.0, nav_wp),
    ]
    upload_mission(conn, items)
    back = download_mission(conn)
    if len(back) != 3 or any(abs(b.x - int(round(i[0] * 1e7))) > 1 for b, i in zip(back[1:], items[1:])):
        raise Failure(f"downloaded mission differs from the upload: {back}")
    log("mission read back identical")

    set_mode(conn, "AUTO")
    recv(conn, ["MISSION_ITEM_REACHED", "STATUSTEXT"], 30, "MISSION_ITEM_REACHED 2",
         lambda m: m.get_type() == "MISSION_ITEM_REACHED" and m.seq == 2)
    wait_near(conn, wp2[0], wp2[1], 14.0, 2.5, 5, "last waypoint")

    set_mode(conn, "RTL")
    log("PASS: heartbeat, GUIDED, arm, takeoff, go-to, mission upload/download, AUTO, RTL")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        log(f"FAIL: {e}")
        sys.exit(1)
