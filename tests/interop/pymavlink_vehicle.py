#!/usr/bin/env python3
"""A pymavlink vehicle that a Vigie ground must see and command.

Behaves like a small ArduCopter quad as far as a ground station can tell:
HEARTBEAT at 1 Hz (MAV_TYPE_QUADROTOR, MAV_AUTOPILOT_ARDUPILOTMEGA, copter
custom modes), GLOBAL_POSITION_INT, ATTITUDE, SYS_STATUS, BATTERY_STATUS
and GPS_RAW_INT at the rates the ground asks for (MAV_CMD_SET_MESSAGE_INTERVAL),
HOME_POSITION on MAV_CMD_REQUEST_MESSAGE. It answers every COMMAND_LONG and
COMMAND_INT addressed to it with a COMMAND_ACK and obeys what it accepts:
arm/disarm, DO_SET_MODE (copter modes), NAV_TAKEOFF (in GUIDED, armed),
DO_REPOSITION (flies there at 15 m/s), RTL, LAND. Commands ArduCopter does
not implement (DO_ORBIT among them) get MAV_RESULT_UNSUPPORTED.

The telemetry values are fixed so the test can check them: battery 87 %,
15.2 V; GPS 3D fix with 14 satellites; heading east (yaw 90 degrees). Every line it prints starts with
"[pymavlink-vehicle". It exits 0 after --for seconds, 1 on an error. Run:

    vigie serve --mavlink 127.0.0.1:14550              # in another shell
    python3 tests/interop/pymavlink_vehicle.py --ground 127.0.0.1:14550
"""

import argparse
import math
import os
import sys
import time

os.environ.setdefault("MAVLINK20", "1")
os.environ.setdefault("MAVLINK_DIALECT", "ardupilotmega")

from pymavlink import mavutil  # noqa: E402

mav = mavutil.mavlink
M_PER_DEG_LAT = 111_200.0
TICK_S = 0.02
HORIZONTAL_SPEED_M_S = 15.0
CLIMB_RATE_M_S = 5.0
BATTERY_PCT = 87
BATTERY_MV = 15200
SATELLITES = 14
YAW_DEG = 90.0
HOME_ALT_MSL_M = 45.0

# ArduCopter custom modes (the subset this vehicle flies).
MODES = {"STABILIZE": 0, "AUTO": 3, "GUIDED": 4, "LOITER": 5, "RTL": 6, "LAND": 9}
MODE_NAMES = {v: k for k, v in MODES.items()}

START = time.monotonic()


def log(text):
    print(f"[pymavlink-vehicle {time.monotonic() - START:6.1f}s] {text}", flush=True)


class Vehicle:
    def __init__(self, lat, lon):
        self.home = (lat, lon)
        self.lat, self.lon = lat, lon
        self.alt_rel = 0.0
        self.target = None  # (lat, lon, alt_rel)
        self.armed = False
        self.mode = MODES["STABILIZE"]
        self.vn = self.ve = self.vd = 0.0
        # Message id -> interval, seconds (None: not streamed).
        self.intervals = {
            mav.MAVLINK_MSG_ID_HEARTBEAT: 1.0,
            mav.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: 0.2,
            mav.MAVLINK_MSG_ID_ATTITUDE: 0.2,
            mav.MAVLINK_MSG_ID_SYS_STATUS: 1.0,
            mav.MAVLINK_MSG_ID_BATTERY_STATUS: 1.0,
            mav.MAVLINK_MSG_ID_GPS_RAW_INT: 1.0,
        }
        self.next_send = {}

    def airborne(self):
        return self.alt_rel > 0.5

    def step(self, dt):
        """Kinematics: straight line to the target at bounded speeds."""
        self.vn = self.ve = self.vd = 0.0
        if self.target is None or not self.armed:
            return
        tlat, tlon, talt = self.target
        dn = (tlat - self.lat) * M_PER_DEG_LAT
        de = (tlon - self.lon) * M_PER_DEG_LAT * math.cos(math.radians(self.lat))
        dist = math.hypot(dn, de)
        step = min(dist, HORIZONTAL_SPEED_M_S * dt)
        if dist > 1e-3:
            self.vn, self.ve = dn / dist * step / dt, de / dist * step / dt
            self.lat += dn / dist * step / M_PER_DEG_LAT
            self.lon += de / dist * step / (M_PER_DEG_LAT * math.cos(math.radians(self.lat)))
        dz = talt - self.alt_rel
        climb = max(-CLIMB_RATE_M_S * dt, min(CLIMB_RATE_M_S * dt, dz))
        self.alt_rel += climb
        self.vd = -climb / dt
        if self.mode == MODES["LAND"] and self.alt_rel <= 0.05:
            self.alt_rel = 0.0
            self.armed = False
            self.target = None
            log("landed and disarmed")

    def heartbeat(self, conn):
        base = mav.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | mav.MAV_MODE_FLAG_STABILIZE_ENABLED
        if self.mode == MODES["GUIDED"]:
            base |= mav.MAV_MODE_FLAG_GUIDED_ENABLED
        if self.armed:
            base |= mav.MAV_MODE_FLAG_SAFETY_ARMED
        status = mav.MAV_STATE_ACTIVE if self.armed else mav.MAV_STATE_STANDBY
        conn.mav.heartbeat_send(mav.MAV_TYPE_QUADROTOR, mav.MAV_AUTOPILOT_ARDUPILOTMEGA,
                                base, self.mode, status)

    def send(self, conn, msg_id, now_ms):
        if msg_id == mav.MAVLINK_MSG_ID_HEARTBEAT:
            self.heartbeat(conn)
        elif msg_id == mav.MAVLINK_MSG_ID_GLOBAL_POSITION_INT:
            conn.mav.global_position_int_send(
                now_ms & 0xFFFFFFFF, int(round(self.lat * 1e7)), int(round(self.lon * 1e7)),
                int((HOME_ALT_MSL_M + self.alt_rel) * 1000), int(self.alt_rel * 1000),
                int(self.vn * 100), int(self.ve * 100), int(self.vd * 100), 9000)
        elif msg_id == mav.MAVLINK_MSG_ID_ATTITUDE:
            conn.mav.attitude_send(now_ms & 0xFFFFFFFF, 0.0, 0.0, math.radians(YAW_DEG), 0.0, 0.0, 0.0)
        elif msg_id == mav.MAVLINK_MSG_ID_SYS_STATUS:
            sensors = 0x3FFFFF
            conn.mav.sys_status_send(sensors, sensors, sensors, 180, BATTERY_MV, 1250,
                                     BATTERY_PCT, 0, 0, 0, 0, 0, 0)
        elif msg_id == mav.MAVLINK_MSG_ID_BATTERY_STATUS:
            cells = [3800, 3800, 3800, 3800] + [65535] * 6
            conn.mav.battery_status_send(0, mav.MAV_BATTERY_FUNCTION_ALL, mav.MAV_BATTERY_TYPE_LIPO,
                                         2500, cells, 1250, 800, -1, BATTERY_PCT)
        elif msg_id == mav.MAVLINK_MSG_ID_GPS_RAW_INT:
            conn.mav.gps_raw_int_send(now_ms * 1000, mav.GPS_FIX_TYPE_3D_FIX,
                                      int(round(self.lat * 1e7)), int(round(self.lon * 1e7)),
                                      int((HOME_ALT_MSL_M + self.alt_rel) * 1000),
                                      80, 120, 0, 65535, SATELLITES)
        elif msg_id == mav.MAVLINK_MSG_ID_HOME_POSITION:
            conn.mav.home_position_send(int(round(self.home[0] * 1e7)), int(round(self.home[1] * 1e7)),
                                        int(HOME_ALT_MSL_M * 1000), 0, 0, 0, [1, 0, 0, 0], 0, 0, 0)
        else:
            return False
        return True

    def stream(self, conn, now):
        now_ms = int((now - START) * 1000)
        for msg_id, interval in self.intervals.items():
            if interval is None:
                continue
            due = self.next_send.get(msg_id, now)
            if now >= due:
                self.send(conn, msg_id, now_ms)
                self.next_send[msg_id] = max(due + interval, now)

    # Commands --------------------------------------------------------------

    def command(self, conn, cmd, p, x=None, y=None, z=None):
        """Obeys (or refuses) one command; returns a MAV_RESULT."""
        if cmd == mav.MAV_CMD_COMPONENT_ARM_DISARM:
            if p[0] >= 0.5:
                self.armed = True
                log("armed")
                return mav.MAV_RESULT_ACCEPTED
            if self.airborne() and int(p[1]) != 21196:
                return mav.MAV_RESULT_DENIED
            self.armed, self.target = False, None
            log("disarmed")
            return mav.MAV_RESULT_ACCEPTED
        if cmd == mav.MAV_CMD_DO_SET_MODE:
            mode = int(p[1])
            if not int(p[0]) & mav.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED or mode not in MODE_NAMES:
                return mav.MAV_RESULT_DENIED
            self.set_mode(mode)
            return mav.MAV_RESULT_ACCEPTED
        if cmd == mav.MAV_CMD_NAV_TAKEOFF:
            if self.mode != MODES["GUIDED"] or not self.armed:
                log("takeoff refused: not armed in GUIDED")
                return mav.MAV_RESULT_FAILED
            alt = z if z is not None else p[6]
            self.target = (self.lat, self.lon, float(alt))
            log(f"taking off to {alt:.1f} m")
            return mav.MAV_RESULT_ACCEPTED
        if cmd == mav.MAV_CMD_DO_REPOSITION:
            if x is None:  # COMMAND_LONG form: degrees in param5/6
                lat, lon, alt = p[4], p[5], p[6]
            else:
                lat, lon, alt = x / 1e7, y / 1e7, z
            if not self.armed or not self.airborne():
                log("go-to refused: not flying")
                return mav.MAV_RESULT_FAILED
            if int(p[1]) & 1:
                self.set_mode(MODES["GUIDED"])
            elif self.mode != MODES["GUIDED"]:
                return mav.MAV_RESULT_DENIED
            if math.isnan(alt):
                alt = self.alt_rel
            self.target = (lat, lon, float(alt))
            log(f"going to {lat:.7f}, {lon:.7f} at {alt:.1f} m")
            return mav.MAV_RESULT_ACCEPTED
        if cmd == mav.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            self.set_mode(MODES["RTL"])
            return mav.MAV_RESULT_ACCEPTED
        if cmd == mav.MAV_CMD_NAV_LAND:
            self.set_mode(MODES["LAND"])
            return mav.MAV_RESULT_ACCEPTED
        if cmd == mav.MAV_CMD_SET_MESSAGE_INTERVAL:
            msg_id, interval_us = int(p[0]), p[1]
            if msg_id not in self.intervals:
                return mav.MAV_RESULT_DENIED
            self.intervals[msg_id] = None if interval_us < 0 else max(interval_us, 1e4) / 1e6
            return mav.MAV_RESULT_ACCEPTED
        if cmd == mav.MAV_CMD_REQUEST_MESSAGE:
            ok = self.send(conn, int(p[0]), int((time.monotonic() - START) * 1000))
            return mav.MAV_RESULT_ACCEPTED if ok else mav.MAV_RESULT_DENIED
        return mav.MAV_RESULT_UNSUPPORTED

    def set_mode(self, mode):
        if mode == self.mode:
            return
        self.mode = mode
        log(f"mode {MODE_NAMES[mode]}")
        if mode == MODES["RTL"]:
            self.target = (self.home[0], self.home[1], max(self.alt_rel, 15.0))
        elif mode == MODES["LAND"]:
            self.target = (self.lat, self.lon, 0.0)
        elif mode in (MODES["LOITER"], MODES["GUIDED"]) and self.airborne():
            self.target = (self.lat, self.lon, self.alt_rel)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ground", required=True, help="HOST:PORT of the ground's UDP listener")
    parser.add_argument("--sysid", type=int, default=1, help="MAVLink system id")
    parser.add_argument("--origin", default="48.9245,2.3602", help="LAT,LON of home, degrees")
    parser.add_argument("--for", dest="duration", type=float, default=60.0, help="seconds to run")
    args = parser.parse_args()
    lat, lon = (float(v) for v in args.origin.split(","))
    conn = mavutil.mavlink_connection(f"udpout:{args.ground}", source_system=args.sysid,
                                      source_component=mav.MAV_COMP_ID_AUTOPILOT1,
                                      dialect="ardupilotmega")
    vehicle = Vehicle(lat, lon)
    log(f"system {args.sysid} at {lat:.7f}, {lon:.7f}, talking to {args.ground}")
    end = START + args.duration
    last = time.monotonic()
    while time.monotonic() < end:
        now = time.monotonic()
        vehicle.step(now - last)
        last = now
        vehicle.stream(conn, now)
        while True:
            msg = conn.recv_match(blocking=False)
            if msg is None:
                break
            kind = msg.get_type()
            if kind in ("COMMAND_LONG", "COMMAND_INT"):
                if msg.target_system not in (0, args.sysid):
                    continue
                p = [msg.param1, msg.param2, msg.param3, msg.param4]
                if kind == "COMMAND_LONG":
                    p += [msg.param5, msg.param6, msg.param7]
                    result = vehicle.command(conn, msg.command, p)
                else:
                    p += [float("nan")] * 3
                    result = vehicle.command(conn, msg.command, p, msg.x, msg.y, msg.z)
                log(f"{kind} {msg.command} -> MAV_RESULT {result}")
                conn.mav.command_ack_send(msg.command, result, 0, 0,
                                          msg.get_srcSystem(), msg.get_srcComponent())
            elif kind == "SET_MODE" and msg.target_system == args.sysid:
                if msg.custom_mode in MODE_NAMES:
                    vehicle.set_mode(msg.custom_mode)
        time.sleep(TICK_S)
    log("done")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001 - report anything and fail
        log(f"FAIL: {e!r}")
        sys.exit(1)
