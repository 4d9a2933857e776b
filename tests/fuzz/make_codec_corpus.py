#!/usr/bin/env python3
"""Writes the seed corpus of codec_fuzz: valid MQTT 3.1.1 and 5.0 packets (the golden vectors of
tests/unit/mqtt/codec_golden_test.cpp), one binary file each, into corpus/codec/.

Usage: python3 tests/fuzz/make_codec_corpus.py
"""
import pathlib

SEEDS = {
    "connect_v311": "10 0F 00 04 4D 51 54 54 04 02 00 3C 00 03 61 62 63",
    "connect_v311_will_user_pass": "10 1E 00 04 4D 51 54 54 04 EE 00 0A 00 02 63 31 00 03 77 2F 74"
                                   " 00 03 62 79 65 00 01 75 00 01 70",
    "connect_v5_will_props": "10 27 00 04 4D 51 54 54 05 86 00 1E 08 11 00 00 0E 10 21 00 14 00 01"
                             " 63 07 01 01 18 00 00 00 05 00 01 74 00 01 78 00 01 75",
    "connack_v311": "20 02 01 00",
    "connack_v5_props": "20 0B 00 00 08 12 00 02 61 62 22 00 0A",
    "connack_v5_all_props": "20 18 00 00 15 24 01 25 00 27 00 00 10 00 28 01 29 00 2A 01 13 00 05"
                            " 21 00 0A",
    "publish_qos0_v311": "30 07 00 03 61 2F 62 68 69",
    "publish_qos1_retain_v311": "33 09 00 03 61 2F 62 00 0A 68 69",
    "publish_qos2_dup_v5_props": "3C 10 00 01 74 12 34 09 02 00 00 00 3C 03 00 01 6A 78",
    "publish_v5_alias_subids": "30 0B 00 00 07 23 00 03 0B 01 0B 02 7A",
    "puback_short": "40 02 00 01",
    "puback_v5_reason_string": "40 09 00 01 10 05 1F 00 02 6E 6F",
    "pubrel_v5": "62 03 00 05 92",
    "subscribe_v311": "82 0E 00 01 00 03 61 2F 2B 01 00 03 62 2F 23 00",
    "subscribe_v5_shared": "82 10 00 01 00 00 0A 24 73 68 61 72 65 2F 67 2F 23 09",
    "subscribe_v5_subid": "82 09 00 02 02 0B 05 00 01 78 1E",
    "suback_v311": "90 04 00 01 01 80",
    "suback_v5": "90 05 00 02 00 02 A2",
    "unsubscribe_v5": "A2 08 00 03 00 00 03 61 2F 62",
    "unsuback_v5": "B0 05 00 03 00 00 11",
    "pingreq": "C0 00",
    "disconnect_v5_props": "E0 07 00 05 11 00 00 00 00",
    "auth_v5": "F0 0E 18 0C 15 00 05 53 43 52 41 4D 16 00 01 64",
}


def main() -> None:
    out = pathlib.Path(__file__).resolve().parent / "corpus" / "codec"
    out.mkdir(parents=True, exist_ok=True)
    for name, hex_text in SEEDS.items():
        (out / name).write_bytes(bytes.fromhex(hex_text))
    print(f"wrote {len(SEEDS)} seeds to {out}")


if __name__ == "__main__":
    main()
