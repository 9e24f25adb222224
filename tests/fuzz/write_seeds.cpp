// Writes the seed inputs of the network targets from real traffic: every control
// message as cohort encodes it, and whole sessions with models as ModelWriter streams
// them. Run it after a protocol change (`build/fuzz/fuzz_write_seeds tests/fuzz/corpus`);
// the configuration targets' seeds are the shipped recipes, project files and kits.
#include "admin/admin_protocol.hpp"
#include "net/codec.hpp"
#include "support/model_stream.hpp"

#include <ATen/ops/arange.h>
#include <ATen/ops/ones.h>

#include <filesystem>
#include <fstream>
#include <iostream>

using namespace cohort;
using namespace cohort::net;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<std::byte>;

void write(const fs::path& file, const Bytes& bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

Bytes model_stream(const Model& model, std::size_t chunk_bytes) { return test::written_stream(model, chunk_bytes); }

void append(Bytes& out, const Bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_write_seeds CORPUS_DIR\n";
    return 2;
  }
  const fs::path corpus = argv[1];
  SiteMessageHeader site{"job-1", "site-2", SiteMessage{"site-1", "weights", 3, {{"k", "v"}}, {{"loss", 0.5}}, 12}, true};
  TaskHeader task{7, "job-1", "train", 2, 1, 3, {{"lr", "0.1"}}, true};
  ResultHeader result{7, "job-1", true, "", 2, 40, {{"accuracy", 0.84}, {"examples", 512}}, true};
  const std::vector<Message> messages{
      Hello{kProtocolVersion, "site-1", "client-1", "cohort 0.1.0", {7, 9}}, Welcome{kProtocolVersion, "server", 5000},
      Refuse{"unknown site"}, Heartbeat{},
      JobAnnounce{"job-1", "recipes/r.toml", "[job]\nname = \"x\"\n", {"site-1", "site-2"}, true}, task, result,
      ModelBegin{2, 48}, TensorInfo{"layer.weight", c10::ScalarType::Float, {3, 4}, 48, 0}, ModelEnd{},
      Bye{"job done", true}, TaskAccepted{7}, Relay{site}, Deliver{site}, Report{site}, StreamAbort{"source gone"},
      JobEnd{"job-1", "COMPLETED"}, ResultReceived{7}};
  for (const auto& m : messages) {
    const Bytes frame = encode_frame(m);
    Bytes seed{static_cast<std::byte>(frame_type(m))};
    seed.insert(seed.end(), frame.begin() + kFrameHeaderBytes, frame.end());
    write(corpus / "control_frames" / to_string(frame_type(m)), seed);
  }

  Model model;
  model.tensors.push_back({"w", at::arange(0, 300, at::kFloat).reshape({10, 30})});
  model.tensors.push_back({"b", at::ones({10}, at::kDouble)});
  model.tensors.push_back({"empty", at::ones({0}, at::kFloat)});
  model.tensors.push_back({"steps", at::arange(0, 7, at::kLong)});
  // Flags byte (see model_streams.cpp), then a session as a client's server sees it.
  for (const std::uint8_t flags : {0x00, 0x01, 0x09, 0x11, 0x05}) {
    Bytes session{static_cast<std::byte>(flags)};
    if (!(flags & 1)) append(session, encode_frame(Hello{kProtocolVersion, "site-1", "client-1", "cohort"}));
    // A job that carries files: they follow its JOB frame as byte tensors named by path.
    Model files;
    files.tensors.push_back({"code/train.py", at::ones({37}, at::kByte)});
    files.tensors.push_back({"code/helpers/__init__.py", at::ones({0}, at::kByte)});
    append(session, encode_frame(JobAnnounce{"job-1", "recipes/r.toml", "[job]\n", {"site-1"}, true}));
    append(session, model_stream(files, 16));
    append(session, encode_frame(task));
    append(session, model_stream(model, 256));
    append(session, encode_frame(Heartbeat{}));
    append(session, encode_frame(result));
    append(session, model_stream(model, 4096));
    append(session, encode_frame(Relay{site}));
    Bytes cut = model_stream(model, 512);
    cut.resize(cut.size() / 2);
    append(session, cut);
    append(session, encode_frame(StreamAbort{"source gone"}));
    write(corpus / "model_streams" / ("session-" + std::to_string(flags)), session);
  }

  using admin::AdminRequest;
  using admin::Command;
  for (const AdminRequest& r : {AdminRequest{Command::submit, "", "[job]\nname = \"x\"\n", "job.toml"},
                                AdminRequest{Command::submit, "", "[job]\n", "recipes/r.toml",
                                             {{"code/train.py", "import cohort\n"}, {"code/a/__init__.py", ""}}},
                                AdminRequest{Command::list}, AdminRequest{Command::show, "id"},
                                AdminRequest{Command::abort, "id"}, AdminRequest{Command::download, "id"},
                                AdminRequest{Command::logs, "id"}}) {
    const std::string message = admin::encode_message(admin::to_json(r));
    const auto* p = reinterpret_cast<const std::byte*>(message.data());
    const std::string name = std::string(admin::to_string(r.command)) + (r.files.empty() ? "" : "-with-files");
    write(corpus / "admin_request" / name, Bytes(p, p + message.size()));
  }
  std::cout << "wrote seeds under " << corpus.string() << "\n";
  return 0;
}
