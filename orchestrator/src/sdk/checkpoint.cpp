// Checkpoints in torch.save's zip format, streamed to disk, and read back (ours, and what
// Python's torch.save wrote: a state_dict is an OrderedDict with _metadata, which libtorch
// 1.13's own unpickler reads as None, so the reading is done here).
//
// torch::pickle_save builds the whole archive in a std::vector before anyone can write it:
// one extra copy of the model in memory. Here the same archive (a pickled dict whose
// tensors live in records data/0, data/1, ...) goes through PyTorchStreamWriter straight
// into a file, record by record, from each tensor's own storage.
#include <cohort/error.hpp>
#include <cohort/model.hpp>

#include <ATen/core/Dict.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>

namespace fs = std::filesystem;

namespace cohort {

namespace {

[[noreturn]] void fail_io(const std::string& action, const fs::path& file) {
  throw IoError::from_errno(file, action, errno);
}

// Flushes a directory entry (the rename) to disk.
void sync_directory(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

void save_checkpoint(const Model& model, const fs::path& file) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& t : model.tensors) {
    at::Tensor tensor = t.tensor.is_contiguous() ? t.tensor : t.tensor.contiguous();
    dict.insert(t.name, tensor);
  }

  std::vector<char> pickle_bytes;  // the pickled dict holds tensor references, not data
  torch::jit::Pickler pickler([&](const char* data, std::size_t size) {
    pickle_bytes.insert(pickle_bytes.end(), data, data + size);
  });
  pickler.protocol();
  pickler.pushIValue(c10::IValue(dict));
  pickler.stop();

  if (!file.parent_path().empty()) fs::create_directories(file.parent_path());
  const fs::path temporary = file.string() + ".partial";
  std::FILE* out = std::fopen(temporary.c_str(), "wb");
  if (!out) fail_io("create", temporary);
  bool write_failed = false;
  try {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, std::size_t size) -> std::size_t {
      if (std::fwrite(data, 1, size, out) != size) write_failed = true;
      return size;
    });
    torch::jit::writeArchiveAndTensors("data", pickle_bytes.data(), pickle_bytes.size(),
                                       pickler.tensorData(), writer);
    writer.writeEndOfFile();
  } catch (...) {
    std::fclose(out);
    std::remove(temporary.c_str());
    throw;
  }
  if (write_failed || std::fflush(out) != 0 || ::fsync(fileno(out)) != 0) {
    const int saved = errno;
    std::fclose(out);
    std::remove(temporary.c_str());
    errno = saved;
    fail_io("write", temporary);
  }
  std::fclose(out);
  if (std::rename(temporary.c_str(), file.c_str()) != 0) fail_io("rename onto", file);
  sync_directory(file.parent_path());
}

namespace {

/// A value of the pickle machine below. Containers are shared: the pickle's memo holds
/// references, and SETITEMS fills a dict after it was memoized.
struct Value;
using ValuePtr = std::shared_ptr<Value>;
struct Value {
  enum class Kind { none, boolean, integer, floating, text, tuple, list, dict, global, tensor };
  Kind kind = Kind::none;
  std::int64_t integer = 0;
  double floating = 0;
  std::string text;  // text, or a global's "module name"
  std::vector<ValuePtr> items;  // tuple, list
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;  // dict, in order
  at::Tensor tensor;
};

ValuePtr make(Value::Kind kind) {
  auto v = std::make_shared<Value>();
  v->kind = kind;
  return v;
}

[[noreturn]] void unreadable(const std::string& why) { throw std::runtime_error(why); }

/// The dtype of a storage class of torch.save's persistent ids ("torch FloatStorage").
c10::ScalarType storage_dtype(const std::string& global) {
  static const std::pair<const char*, c10::ScalarType> kStorages[] = {
      {"torch FloatStorage", at::kFloat},   {"torch DoubleStorage", at::kDouble}, {"torch HalfStorage", at::kHalf},
      {"torch BFloat16Storage", at::kBFloat16}, {"torch LongStorage", at::kLong}, {"torch IntStorage", at::kInt},
      {"torch ShortStorage", at::kShort},   {"torch CharStorage", at::kChar},     {"torch ByteStorage", at::kByte},
      {"torch BoolStorage", at::kBool}};
  for (const auto& [name, dtype] : kStorages)
    if (global == name) return dtype;
  unreadable("a storage of class '" + global + "', which cohort cannot read");
}

/// Runs the subset of Python's pickle machine (protocols 2 to 4) that torch.save and
/// libtorch's pickler emit for a dict of tensors: containers, numbers, strings, the
/// globals that rebuild tensors and dicts, and persistent ids naming the storages of the
/// archive. Anything else is refused, named.
class TorchSaveReader {
 public:
  TorchSaveReader(caffe2::serialize::PyTorchStreamReader& archive, std::string pickle)
      : archive_(archive), data_(std::move(pickle)) {}

  ValuePtr run() {
    for (;;) {
      const auto op = static_cast<unsigned char>(byte());
      if (op == '.') return pop();  // STOP
      if (!(framing(op) || memo(op) || container(op) || scalar(op) || object(op))) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        unreadable(std::string("pickle opcode ") + hex + " at byte " + std::to_string(at_ - 1) +
                   ", which a dict of tensors does not use");
      }
    }
  }

 private:
  /// PROTO, FRAME, MARK. Each of these returns whether it knew `op`.
  bool framing(unsigned char op) {
    switch (op) {
      case 0x80: byte(); return true;                            // PROTO
      case 0x95: bytes(8); return true;                          // FRAME
      case '(': marks_.push_back(stack_.size()); return true;    // MARK
      default: return false;
    }
  }

  /// The memo: BINPUT, LONG_BINPUT, MEMOIZE, BINGET, LONG_BINGET.
  bool memo(unsigned char op) {
    switch (op) {
      case 'q': memo_[static_cast<unsigned char>(byte())] = top(); return true;
      case 'r': memo_[little<std::uint32_t>()] = top(); return true;
      case 0x94: memo_[memo_.size()] = top(); return true;
      case 'h': stack_.push_back(memoized(static_cast<unsigned char>(byte()))); return true;
      case 'j': stack_.push_back(memoized(little<std::uint32_t>())); return true;
      default: return false;
    }
  }

  /// Tuples, lists and dicts.
  bool container(unsigned char op) {
    switch (op) {
      case ')': stack_.push_back(make(Value::Kind::tuple)); return true;               // EMPTY_TUPLE
      case 't': stack_.push_back(sequence(Value::Kind::tuple, since_mark())); return true;
      case 0x85: case 0x86: case 0x87: {                                                // TUPLE1..3
        const std::size_t n = op - 0x84;
        if (stack_.size() < n) unreadable("a tuple of more values than the stack holds");
        std::vector<ValuePtr> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
        stack_.resize(stack_.size() - n);
        stack_.push_back(sequence(Value::Kind::tuple, std::move(items)));
        return true;
      }
      case ']': stack_.push_back(make(Value::Kind::list)); return true;                // EMPTY_LIST
      case 'l': stack_.push_back(sequence(Value::Kind::list, since_mark())); return true;
      case 'a': { auto v = pop(); filling(Value::Kind::list)->items.push_back(v); return true; }  // APPEND
      case 'e': {                                                                       // APPENDS
        auto items = since_mark();
        auto& l = filling(Value::Kind::list)->items;
        l.insert(l.end(), items.begin(), items.end());
        return true;
      }
      case '}': stack_.push_back(make(Value::Kind::dict)); return true;                // EMPTY_DICT
      case 's': { auto v = pop(), k = pop(); filling(Value::Kind::dict)->entries.emplace_back(k, v); return true; }
      case 'u': {                                                                       // SETITEMS
        auto items = since_mark();
        if (items.size() % 2) unreadable("SETITEMS with an odd number of values");
        auto& d = filling(Value::Kind::dict)->entries;
        for (std::size_t i = 0; i < items.size(); i += 2) d.emplace_back(items[i], items[i + 1]);
        return true;
      }
      default: return false;
    }
  }

  /// None, booleans, integers, floats and strings.
  bool scalar(unsigned char op) {
    switch (op) {
      case 'N': stack_.push_back(make(Value::Kind::none)); return true;
      case 0x88: case 0x89: {                                                           // NEWTRUE, NEWFALSE
        auto b = make(Value::Kind::boolean);
        b->integer = op == 0x88;
        stack_.push_back(b);
        return true;
      }
      case 'K': push_integer(static_cast<unsigned char>(byte())); return true;         // BININT1
      case 'M': push_integer(little<std::uint16_t>()); return true;                    // BININT2
      case 'J': push_integer(static_cast<std::int32_t>(little<std::uint32_t>())); return true;  // BININT
      case 0x8a: push_integer(long1()); return true;                                   // LONG1
      case 'G': {                                                                       // BINFLOAT (big endian)
        std::uint64_t bits = 0;
        for (char c : bytes(8)) bits = bits << 8 | static_cast<unsigned char>(c);
        auto f = make(Value::Kind::floating);
        std::memcpy(&f->floating, &bits, sizeof bits);
        stack_.push_back(f);
        return true;
      }
      case 'X': case 'T': push_text(bytes(little<std::uint32_t>())); return true;      // BINUNICODE, BINSTRING
      case 0x8c: case 'U': push_text(bytes(static_cast<unsigned char>(byte()))); return true;  // SHORT_*
      default: return false;
    }
  }

  /// Globals, calls and persistent ids: what rebuilds tensors and dicts.
  bool object(unsigned char op) {
    switch (op) {
      case 'c': {                                                                       // GLOBAL
        auto g = make(Value::Kind::global);
        const std::string module = line();  // two statements: the order is the stream's
        g->text = module + " " + line();
        stack_.push_back(g);
        return true;
      }
      case 0x93: {                                                                      // STACK_GLOBAL
        auto name = pop(), module = pop();
        auto g = make(Value::Kind::global);
        g->text = module->text + " " + name->text;
        stack_.push_back(g);
        return true;
      }
      case 'Q': stack_.push_back(storage(pop())); return true;                         // BINPERSID
      case 'R': { auto args = pop(), callable = pop(); stack_.push_back(reduce(*callable, *args)); return true; }
      case 'b': pop(); return true;  // BUILD: an OrderedDict's state (_metadata), nothing a tensor needs
      default: return false;
    }
  }

  std::int64_t long1() {
    const auto n = static_cast<unsigned char>(byte());
    if (n > 8) unreadable("an integer of " + std::to_string(n) + " bytes");
    const std::string b = bytes(n);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(b[i])) << (8 * i);
    if (n > 0 && n < 8 && (static_cast<unsigned char>(b[n - 1]) & 0x80)) v |= ~std::uint64_t{0} << (8 * n);
    return static_cast<std::int64_t>(v);
  }

  char byte() {
    if (at_ >= data_.size()) unreadable("the pickle ends early");
    return data_[at_++];
  }
  std::string bytes(std::size_t n) {
    if (n > data_.size() - at_) unreadable("the pickle ends early");
    std::string out = data_.substr(at_, n);
    at_ += n;
    return out;
  }
  template <class T>
  T little() {
    const std::string b = bytes(sizeof(T));
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<unsigned char>(b[i])) << (8 * i);
    return v;
  }
  std::string line() {
    const auto end = data_.find('\n', at_);
    if (end == std::string::npos) unreadable("the pickle ends early");
    std::string out = data_.substr(at_, end - at_);
    at_ = end + 1;
    return out;
  }
  ValuePtr pop() {
    if (stack_.empty()) unreadable("the pickle pops an empty stack");
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  ValuePtr top() {
    if (stack_.empty()) unreadable("the pickle memoizes an empty stack");
    return stack_.back();
  }
  ValuePtr memoized(std::size_t id) {
    auto it = memo_.find(id);
    if (it == memo_.end()) unreadable("the pickle refers to memo " + std::to_string(id) + ", which it never set");
    return it->second;
  }
  std::vector<ValuePtr> since_mark() {
    if (marks_.empty()) unreadable("the pickle closes a MARK it never opened");
    const std::size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  Value* filling(Value::Kind kind) {
    auto& v = *top();
    if (v.kind != kind) unreadable("the pickle adds items to something that is not a dict or list");
    return &v;
  }
  static ValuePtr sequence(Value::Kind kind, std::vector<ValuePtr> items) {
    auto v = make(kind);
    v->items = std::move(items);
    return v;
  }
  void push_integer(std::int64_t value) {
    auto v = make(Value::Kind::integer);
    v->integer = value;
    stack_.push_back(v);
  }
  void push_text(std::string text) {
    auto v = make(Value::Kind::text);
    v->text = std::move(text);
    stack_.push_back(v);
  }
  static std::int64_t integer(const Value& v, const char* what) {
    if (v.kind != Value::Kind::integer) unreadable(std::string(what) + " is not an integer");
    return v.integer;
  }
  static std::vector<std::int64_t> integers(const Value& v, const char* what) {
    if (v.kind != Value::Kind::tuple) unreadable(std::string(what) + " is not a tuple");
    std::vector<std::int64_t> out;
    for (const auto& i : v.items) out.push_back(integer(*i, what));
    return out;
  }

  /// A persistent id ('storage', StorageClass, key, location, numel): the record data/KEY,
  /// as a 1-d tensor of the storage's dtype (one per key, shared by its views).
  ValuePtr storage(const ValuePtr& id) {
    if (id->kind != Value::Kind::tuple || id->items.size() < 5 || id->items[0]->text != "storage" ||
        id->items[1]->kind != Value::Kind::global)
      unreadable("a persistent id that is not a storage");
    const std::string key = id->items[2]->text;
    auto& cached = storages_[key];
    if (!cached) {
      const auto dtype = storage_dtype(id->items[1]->text);
      const std::int64_t numel = integer(*id->items[4], "a storage's size");
      auto [data, size] = archive_.getRecord("data/" + key);
      if (size != static_cast<std::size_t>(numel) * c10::elementSize(dtype))
        unreadable("storage " + key + " holds " + std::to_string(size) + " bytes, not " + std::to_string(numel) +
                   " elements of " + c10::toString(dtype));
      auto owner = std::make_shared<at::DataPtr>(std::move(data));
      cached = make(Value::Kind::tensor);
      cached->tensor = at::from_blob(owner->get(), {numel}, [owner](void*) {}, at::TensorOptions().dtype(dtype));
    }
    return cached;
  }

  /// REDUCE of the callables a state_dict's pickle uses.
  ValuePtr reduce(const Value& callable, const Value& args) {
    if (callable.kind != Value::Kind::global) unreadable("the pickle calls something that is not a global");
    const std::string& name = callable.text;
    if (name == "collections OrderedDict" || name == "builtins dict") return make(Value::Kind::dict);
    if (name == "torch.jit._pickle restore_type_tag") {
      if (args.items.empty()) unreadable("restore_type_tag without a value");
      return args.items[0];
    }
    if (name == "torch._utils _rebuild_tensor_v2" || name == "torch._utils _rebuild_tensor") {
      if (args.items.size() < 4 || args.items[0]->kind != Value::Kind::tensor)
        unreadable("_rebuild_tensor_v2 with the wrong arguments");
      const at::Tensor& storage = args.items[0]->tensor;
      auto v = make(Value::Kind::tensor);
      v->tensor = at::empty({0}, storage.options())
                      .set_(storage.storage(), integer(*args.items[1], "a tensor's offset"),
                            integers(*args.items[2], "a tensor's size"), integers(*args.items[3], "a tensor's stride"));
      return v;
    }
    if (name == "torch._utils _rebuild_parameter") {
      if (args.items.empty() || args.items[0]->kind != Value::Kind::tensor)
        unreadable("_rebuild_parameter with the wrong arguments");
      return args.items[0];
    }
    unreadable("the pickle calls '" + name + "', which a dict of tensors does not use");
  }

  caffe2::serialize::PyTorchStreamReader& archive_;
  std::string data_;
  std::size_t at_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<std::size_t> marks_;
  std::map<std::size_t, ValuePtr> memo_;
  std::map<std::string, ValuePtr> storages_;
};

}  // namespace

Model load_checkpoint(const fs::path& file) {
  Model model;
  try {
    caffe2::serialize::PyTorchStreamReader archive(file.string());
    auto [pickle, size] = archive.getRecord("data.pkl");
    TorchSaveReader reader(archive, std::string(static_cast<const char*>(pickle.get()), size));
    const ValuePtr value = reader.run();
    if (value->kind != Value::Kind::dict) throw std::runtime_error("it holds something else than a dict of tensors");
    for (const auto& [key, tensor] : value->entries) {
      if (key->kind != Value::Kind::text) throw std::runtime_error("it holds a dict entry whose key is not a name");
      if (tensor->kind != Value::Kind::tensor)
        throw std::runtime_error("its entry '" + key->text + "' is not a tensor (a dict of name -> tensor is expected)");
      model.tensors.push_back({key->text, tensor->tensor});
    }
  } catch (const c10::Error& e) {
    throw IoError(file, std::string("not a checkpoint cohort can read: ") + e.what_without_backtrace());
  } catch (const std::runtime_error& e) {
    throw IoError(file, std::string("not a checkpoint cohort can read: ") + e.what());
  }
  return model;
}

}  // namespace cohort
