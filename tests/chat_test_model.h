#pragma once
// Model folders for the chat and GUI suites and the GUI benchmark.
#include <filesystem>
#include <string>

namespace r1::test {

// A Qwen2-shaped model with random weights and the fixtures' byte-level tokenizer (ChatML, <think>), large
// enough that a reply takes visible time on a CPU, so a test can stop it midway. Its output head never
// favours <|im_end|>, so replies run until max tokens or Stop. Returns `dir`.
std::filesystem::path write_slow_chat_model(const std::filesystem::path& dir, int hidden = 384,
                                            int layers = 6, int max_context = 2048);

// The small committed fixture model the chat suites use by default.
std::filesystem::path chat_fixture_model();

}  // namespace r1::test
