#pragma once
// Encoding of control payloads: little-endian integers, length-prefixed strings, and
// maps. The decoder checks every length against the bytes left and the limits, and
// throws ProtocolError naming the frame and the field: a malformed frame closes one
// connection, never more.

#include "net/protocol.hpp"

#include <cohort/error.hpp>

#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace cohort::net {

/// The peer broke the protocol; the connection is closed with this message.
using cohort::ProtocolError;

/// The frame type carrying `message`.
FrameType frame_type(const Message& message);

/// A whole frame (header + payload) for a control message. CHUNK frames are not built
/// here: their payload is written straight from tensor storage.
std::vector<std::byte> encode_frame(const Message& message);

/// The 5-byte header of a frame of `type` with `payload_bytes`.
std::array<std::byte, kFrameHeaderBytes> encode_header(FrameType type, std::uint32_t payload_bytes);

/// Decodes a control payload of `type`. Throws ProtocolError.
Message decode(FrameType type, std::span<const std::byte> payload, const Limits& limits);

/// Whether a model may carry tensors of `dtype` (every dtype of a PyTorch state_dict but
/// the complex and quantized ones).
bool is_wire_dtype(c10::ScalarType dtype);

/// Reads a frame header; throws ProtocolError on an unknown type.
std::pair<FrameType, std::uint32_t> decode_header(std::span<const std::byte, kFrameHeaderBytes> header);

}  // namespace cohort::net
