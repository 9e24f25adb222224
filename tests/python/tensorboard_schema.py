"""TensorBoard's event files read by their published schema, with nothing of cohort's code:
TFRecord framing with masked CRC-32C, then the `Event` and `Summary` messages by field number
(event.proto: wall_time 1 double, step 2 int64, file_version 3 string, summary 5;
summary.proto: Summary.value 1; Value.tag 1 string, simple_value 2 float). Used by
test_tracking.py and by tests/fixtures/tracking/make_golden.py."""

import struct


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def records(data):
    at = 0
    while at < len(data):
        (length,) = struct.unpack_from("<Q", data, at)
        (length_crc,) = struct.unpack_from("<I", data, at + 8)
        assert length_crc == masked(data[at:at + 8]), "length CRC"
        record = data[at + 12:at + 12 + length]
        (record_crc,) = struct.unpack_from("<I", data, at + 12 + length)
        assert record_crc == masked(record), "record CRC"
        yield record
        at += 12 + length + 4


def fields(message):
    """(field number, value) pairs of a protocol buffer message."""
    at = 0

    def varint():
        nonlocal at
        shift = value = 0
        while True:
            byte = message[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while at < len(message):
        key = varint()
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            yield number, varint()
        elif wire_type == 1:
            yield number, message[at:at + 8]
            at += 8
        elif wire_type == 2:
            length = varint()
            yield number, message[at:at + length]
            at += length
        elif wire_type == 5:
            yield number, message[at:at + 4]
            at += 4
        else:
            raise ValueError(f"wire type {wire_type}")


def events(file):
    """Each Event of an event file as a dict: wall_time, step, file_version, scalars [(tag, value)]."""
    for record in records(file.read_bytes()):
        event = {"step": 0, "scalars": []}
        for number, value in fields(record):
            if number == 1:
                event["wall_time"] = struct.unpack("<d", value)[0]
            elif number == 2:
                event["step"] = value
            elif number == 3:
                event["file_version"] = value.decode()
            elif number == 5:
                for summary_number, summary_value in fields(value):
                    if summary_number != 1:
                        continue
                    scalar = dict(fields(summary_value))
                    event["scalars"].append((scalar[1].decode(), struct.unpack("<f", scalar[2])[0]))
        yield event
