#include "chat_worker.h"

#include <QFile>
#include <QRandomGenerator>
#include <algorithm>
#include <filesystem>

#include "engine/core/error.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/reasoning.h"

namespace r1::app {
namespace {

// Text and stats reach the GUI at most this often: a fast model makes thousands of tokens a second, and
// one queued signal per token would flood the GUI's event loop.
constexpr qint64 kEmitIntervalMs = 33;
// Touching one byte per page pages memory-mapped weights in; progress and cancel are checked per chunk.
constexpr size_t kPageBytes = 4096;
constexpr size_t kProgressChunkBytes = size_t(32) << 20;

std::filesystem::path to_path(const QString& dir) {
  return std::filesystem::path(QFile::encodeName(dir).toStdString());
}

}  // namespace

struct ChatWorker::Loaded {
  std::shared_ptr<const Model> model;
  std::shared_ptr<const Tokenizer> tokenizer;
  ChatTemplate chat;
  // Appended to the generation prompt: "<think>\n" when the vocabulary knows think tags but the template does
  // not open the thought itself, so every reply starts with its reasoning (as R1's own template does).
  std::string prompt_suffix;
  bool starts_thinking = false;
  std::vector<int32_t> stop_ids;
  std::vector<std::string> stop_strings;
  std::unique_ptr<Runtime> runtime;
  std::unique_ptr<Generator> generator;
  ModelInfo info;
};

ChatWorker::ChatWorker(QString store_path, std::shared_ptr<const std::atomic<quint64>> stopped_upto,
                       std::shared_ptr<const std::atomic<quint64>> cancelled_upto)
    : store_path_(std::move(store_path)),
      stopped_upto_(std::move(stopped_upto)),
      cancelled_upto_(std::move(cancelled_upto)) {}

ChatWorker::~ChatWorker() = default;

void ChatWorker::load(quint64 load_id, const QString& dir, const QString& device) {
  const auto cancelled = [&] { return cancelled_upto_->load() >= load_id; };
  try {
    const std::filesystem::path path = to_path(dir);
    emit loadProgress(0.02, tr("Reading config.json and the weights' headers"));
    if (cancelled()) return emit loadCancelled(dir);
    auto next = std::make_unique<Loaded>();
    next->model = load_model(path);
    const Model& model = *next->model;
    if (cancelled()) return emit loadCancelled(dir);

    emit loadProgress(0.1, tr("Reading the tokenizer"));
    if (!std::filesystem::exists(path / "tokenizer.json"))
      fail(path.string(), ": no tokenizer.json; chatting needs the model's own tokenizer");
    next->tokenizer = Tokenizer::load(path);
    if (next->tokenizer->vocab_size() > model.config.vocab_size)
      fail(path.string(), ": tokenizer.json has ", next->tokenizer->vocab_size(),
           " tokens but the model's vocabulary (config.json vocab_size) has ", model.config.vocab_size);
    next->chat = ChatTemplate::from_model_dir(path);
    const bool has_think = next->tokenizer->token_id("<think>") && next->tokenizer->token_id("</think>");
    next->starts_thinking = next->chat.generation_opens_thinking() || has_think;
    if (has_think && !next->chat.generation_opens_thinking()) next->prompt_suffix = "<think>\n";
    for (int64_t id : model.stop_ids) next->stop_ids.push_back(int32_t(id));
    const std::string& eot = next->chat.end_of_turn();
    if (const auto eot_id = next->tokenizer->token_id(eot)) {
      if (std::find(next->stop_ids.begin(), next->stop_ids.end(), *eot_id) == next->stop_ids.end())
        next->stop_ids.push_back(*eot_id);
    } else if (!eot.empty()) {
      next->stop_strings.push_back(eot);
    }
    if (cancelled()) return emit loadCancelled(dir);

    std::vector<TensorView> tensors;
    size_t total = 0;
    for (const std::string& name : model.store->names()) {
      tensors.push_back(model.store->find(name));
      total += tensors.back().nbytes();
    }
    size_t done = 0, since_report = 0;
    unsigned sink = 0;
    for (const TensorView& t : tensors) {
      const auto* bytes = static_cast<const volatile unsigned char*>(t.data);
      for (size_t off = 0; off < t.nbytes(); off += kPageBytes) {
        sink += bytes[off];
        since_report += kPageBytes;
        if (since_report >= kProgressChunkBytes) {
          done += since_report;
          since_report = 0;
          if (cancelled()) return emit loadCancelled(dir);
          emit loadProgress(0.15 + 0.75 * double(done) / double(std::max<size_t>(total, 1)),
                            tr("Reading the weights (%1 of %2 MiB)").arg(done >> 20).arg(total >> 20));
        }
      }
    }
    (void)sink;

    emit loadProgress(0.92, tr("Planning the KV cache"));
    RuntimeOptions ro;
    ro.device = parse_device(device.toStdString());
    ro.max_sequences = 1;
    ro.max_context = std::min<int64_t>(model.config.max_position_embeddings, 4096);
    next->runtime = create_runtime(next->model, ro);
    next->generator = std::make_unique<Generator>(*next->runtime);
    if (cancelled()) return emit loadCancelled(dir);

    ModelInfo& info = next->info;
    info.name = QString::fromStdString(model.name);
    info.dir = dir;
    info.architecture = QString::fromStdString(model.config.architecture);
    info.device = QString::fromLatin1(device_name(next->runtime->device()));
    info.device_description = QString::fromStdString(next->runtime->device_description());
    info.chat_format = QString::fromUtf8(chat_family_name(next->chat.family()).data(),
                                         qsizetype(chat_family_name(next->chat.family()).size()));
    if (!next->prompt_suffix.empty()) info.chat_format += tr(", thinking opened by the prompt");
    info.chat_warning = QString::fromStdString(next->chat.warning());
    info.parameters = model.parameter_count();
    info.weight_bytes = qint64(total);
    info.max_context = next->runtime->max_context();
    info.has_think_tokens = has_think;
    loaded_ = std::move(next);  // the previous model is released here
    info.kv = kvSnapshot();
    emit loadProgress(1.0, tr("Ready"));
    emit modelLoaded(loaded_->info);
    emit kvChanged(loaded_->info.kv);
  } catch (const std::exception& e) {
    emit loadFailed(dir, QString::fromStdString(e.what()));
  }
}

KvSnapshot ChatWorker::kvSnapshot() const {
  KvSnapshot s;
  if (!loaded_) return s;
  const KvCacheStats k = loaded_->runtime->kv_stats();
  const ModelConfig& c = loaded_->runtime->config();
  s.bytes_per_token = k.bytes_per_token;
  s.bytes_per_token_layer = k.bytes_per_token_layer;
  s.capacity_tokens = k.capacity_tokens;
  s.used_tokens = k.used_tokens;
  s.total_bytes = k.total_bytes;
  s.max_context = loaded_->runtime->max_context();
  s.layers = int(c.num_layers);
  // What the same model would cache with one K and one V per attention head, in the cache's own element size.
  if (c.is_deepseek() && c.mla.latent_dim() > 0) {
    const int64_t element =
        k.bytes_per_token_layer % c.mla.latent_dim() == 0 ? k.bytes_per_token_layer / c.mla.latent_dim() : 2;
    s.mha_bytes_per_token_layer = c.num_heads * (c.mla.qk_head_dim() + c.mla.v_head_dim) * element;
    s.cache_kind = QStringLiteral("MLA latent, %1 values").arg(c.mla.latent_dim());
  } else {
    const int64_t kv_values = 2 * c.kv_dim();
    const int64_t element =
        kv_values > 0 && k.bytes_per_token_layer % kv_values == 0 ? k.bytes_per_token_layer / kv_values : 2;
    s.mha_bytes_per_token_layer = 2 * c.num_heads * c.head_dim * element;
    s.cache_kind = c.num_kv_heads >= c.num_heads ? QStringLiteral("one K/V per head")
                   : c.num_kv_heads == 1         ? QStringLiteral("GQA, 1 K/V head")
                                                 : QStringLiteral("GQA, %1 K/V heads").arg(c.num_kv_heads);
  }
  return s;
}

RunStore* ChatWorker::store() {
  if (!store_ && !store_failed_ && !store_path_.isEmpty()) {
    try {
      store_ = std::make_unique<RunStore>(store_path_);
    } catch (const std::exception& e) {
      store_failed_ = true;
      emit storeFailed(QString::fromStdString(e.what()));
    }
  }
  return store_.get();
}

void ChatWorker::persist(const ChatRequest& request, ChatMessage* reply) {
  if (request.conversation_id == 0) return;
  RunStore* s = store();
  if (!s) return;
  try {
    if (reply) {
      reply->id =
          s->replaceMessagesFrom(request.conversation_id, int(request.messages.size()), {*reply}).front();
    } else {
      const int from = std::clamp(request.persist_from, 0, int(request.messages.size()));
      s->replaceMessagesFrom(request.conversation_id, from, request.messages.mid(from));
    }
  } catch (const std::exception& e) {
    emit storeFailed(QString::fromStdString(e.what()));
  }
}

ChatWorker::Prompt ChatWorker::buildPrompt(const ChatRequest& request, int64_t room_for_reply) const {
  const Loaded& l = *loaded_;
  std::vector<r1::ChatMessage> system, turns;
  if (!request.settings.system_prompt.trimmed().isEmpty())
    system.push_back({"system", request.settings.system_prompt.toStdString(), {}});
  for (const ChatMessage& m : request.messages) {
    r1::ChatMessage t{m.role.toStdString(), m.content.toStdString(), m.reasoning.toStdString()};
    (t.role == "system" ? system : turns).push_back(std::move(t));
  }
  ChatOptions options;
  options.keep_past_reasoning = request.settings.keep_reasoning;
  Prompt p;
  const int64_t limit = l.runtime->max_context() - room_for_reply;
  for (;;) {
    std::vector<r1::ChatMessage> all = system;
    all.insert(all.end(), turns.begin(), turns.end());
    p.ids = l.tokenizer->encode(l.chat.render(all, options) + l.prompt_suffix);
    if (int64_t(p.ids.size()) <= limit) return p;
    if (!request.settings.drop_oldest && turns.size() > 1)
      fail("the conversation takes ", p.ids.size(),
           " tokens with the prompt around it, and the model's context holds ", l.runtime->max_context(),
           " with room for a reply; start a new chat, or let the earliest messages drop "
           "(Settings: Drop the earliest messages)");
    if (turns.size() <= 1)
      fail("the message takes ", p.ids.size(),
           " tokens with the prompt around it, and the model's context holds ", l.runtime->max_context(),
           " with room for a reply; shorten the message or the system prompt");
    // Leave out the earliest turn, and an assistant turn left at the front, so the context starts with a
    // user.
    turns.erase(turns.begin());
    ++p.dropped_messages;
    while (turns.size() > 1 && turns.front().role != "user") {
      turns.erase(turns.begin());
      ++p.dropped_messages;
    }
  }
}

void ChatWorker::generate(const ChatRequest& request) {
  const quint64 id = request.request_id;
  const auto stopped = [&] { return stopped_upto_->load() >= id; };
  emit replyStarted(id);
  persist(request, nullptr);
  if (!loaded_) return emit replyFailed(id, tr("No model is loaded; open a model folder first."));
  Loaded& l = *loaded_;
  ReplyStats live;
  live.model = l.info.name;
  live.device = l.info.device;
  live.context_max = l.runtime->max_context();
  ChatMessage reply;
  reply.role = QStringLiteral("assistant");
  try {
    const int64_t max_context = l.runtime->max_context();
    const int64_t wanted = std::clamp<int64_t>(request.settings.max_tokens, 1, max_context - 1);
    const Prompt prompt = buildPrompt(request, std::min<int64_t>(wanted, 16));
    live.prompt_tokens = int64_t(prompt.ids.size());
    live.dropped_messages = prompt.dropped_messages;

    GenerateOptions go;
    go.max_new_tokens = std::min<int64_t>(wanted, max_context - live.prompt_tokens);
    go.stop_ids = l.stop_ids;
    go.stop_strings = l.stop_strings;
    if (!go.stop_strings.empty()) go.token_bytes = [&l](int32_t t) { return l.tokenizer->token_bytes(t); };
    SamplingParams sp;
    sp.temperature = float(request.settings.temperature);
    sp.top_p = float(request.settings.top_p);
    sp.seed = request.settings.seed ? request.settings.seed : QRandomGenerator::global()->generate64();
    sp.validate();

    QElapsedTimer clock;
    clock.start();
    const auto seconds = [&clock] { return double(clock.nsecsElapsed()) * 1e-9; };
    StreamingDecoder decoder(*l.tokenizer, /*skip_special=*/true);
    ReasoningParser::Options parser_options;
    parser_options.starts_in_thinking = l.starts_thinking;
    ReasoningParser parser(parser_options, seconds);
    ReasoningParser::Delta pending;
    const auto send_pending = [&] {
      if (!pending.thinking.empty())
        emit textDelta(id, ReplyPhase::Thinking, QString::fromStdString(pending.thinking));
      if (!pending.answer.empty())
        emit textDelta(id, ReplyPhase::Answer, QString::fromStdString(pending.answer));
      pending = {};
    };
    const auto take = [&pending](const ReasoningParser::Delta& d) {
      pending.thinking += d.thinking;
      pending.answer += d.answer;
    };
    qint64 last_emit_ms = 0;
    const auto on_token = [&](int32_t token) {
      const double now = seconds();
      if (live.completion_tokens++ == 0) live.first_token_seconds = now;
      const bool was_thinking = parser.phase() == ReasoningParser::Phase::Thinking;
      take(parser.push(decoder.push(token), now));
      if (was_thinking || parser.phase() == ReasoningParser::Phase::Thinking) ++live.thinking_tokens;
      if (clock.elapsed() - last_emit_ms >= kEmitIntervalMs) {
        last_emit_ms = clock.elapsed();
        send_pending();
        const double decoding = now - live.first_token_seconds;
        live.tokens_per_second = decoding > 0 ? double(live.completion_tokens - 1) / decoding : 0;
        live.context_used = l.runtime->sequence_length(0);
        emit statsUpdated(id, live);
        emit kvChanged(kvSnapshot());
      }
      return !stopped();
    };

    GenerationResult result;
    if (stopped()) {
      result.reason = StopReason::Cancelled;
    } else {
      result = l.generator->generate(prompt.ids, go, sp, on_token);
    }
    take(parser.push(decoder.flush()));
    take(parser.finish());
    send_pending();
    reply.reasoning = QString::fromStdString(parser.thinking());
    reply.content = QString::fromStdString(parser.answer());

    ReplyStats& s = reply.stats;
    s = live;
    s.completion_tokens = int64_t(result.tokens.size());
    s.reused_tokens = result.reused_tokens;
    s.prefill_seconds = result.prefill_seconds;
    s.decode_seconds = result.decode_seconds;
    s.first_token_seconds = result.first_token_seconds;
    s.tokens_per_second = result.decode_tokens_per_second();
    s.stop_reason = QString::fromLatin1(stop_reason_name(result.reason));
    s.context_used = l.runtime->sequence_length(0);
    s.thinking_seconds = parser.thinking_seconds().value_or(0.0);
    persist(request, &reply);
    emit statsUpdated(id, s);
    emit kvChanged(kvSnapshot());
    emit replyFinished(id, reply);
  } catch (const std::exception& e) {
    emit kvChanged(kvSnapshot());
    emit replyFailed(id, QString::fromStdString(e.what()));
  }
}

}  // namespace r1::app
