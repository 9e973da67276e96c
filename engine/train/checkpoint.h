#pragma once
// Training checkpoints: <out>/checkpoint-<step>/ holds the model as a Hugging Face folder (fp32
// model.safetensors with the master weights, config.json, the tokenizer files), optimizer.safetensors (AdamW
// moments per tensor) and trainer_state.json (step, data cursor, options, the run's last metrics). Each is
// written into a temporary folder that is renamed into place, then <out>/latest names it, so an interrupted
// save never replaces a good checkpoint with a partial one. trainer_state.json records the size and XXH64 of
// every other file; find_checkpoint checks them, so a damaged or truncated checkpoint is refused by name.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "trainer.h"

namespace r1 {

std::filesystem::path save_checkpoint(const std::filesystem::path& out, const Model& base,
                                      const Trainer& trainer, const nlohmann::json& state);

struct LoadedCheckpoint {
  std::filesystem::path dir;
  nlohmann::json state;
};
// Resolves a run folder (through <dir>/latest) or a checkpoint folder; checks that it is complete and that
// its files match their recorded checksums.
LoadedCheckpoint find_checkpoint(const std::filesystem::path& dir);
// Restores the optimizer moments and step of `dir`'s checkpoint into the trainer (built from its model).
void load_optimizer_state(const std::filesystem::path& dir, Trainer& trainer);

}  // namespace r1
