/**
 * The chat templates mergekit's `chat_template:` setting names (mergekit/_data/chat_templates), written here as
 * our own Jinja that renders the same text for the same messages (as transformers renders a template: with
 * trim_blocks and lstrip_blocks), so a merge config naming one gives the same chat format as with mergekit.
 * mergekit also ships "exaone", whose template renders stray indentation into every prompt; it is not offered.
 */
export const NAMED_CHAT_TEMPLATES: Readonly<Record<string, string>> = {
  // <|im_start|>{role}\n{content}<|im_end|>\n per message, then the assistant header when asked
  chatml:
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  // bos before the first message; <|start_header_id|>{role}<|end_header_id|>\n\n{trimmed content}<|eot_id|>\n
  // per message (mergekit's template leaves that newline after each turn)
  llama3:
    "{% for m in messages %}{% if loop.first %}{{ bos_token }}{% endif %}" +
    "{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + (m['content'] | trim) + '<|eot_id|>\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
  // the last system message (trimmed) and a blank line; then ### Instruction: / ### Response: / ### Input: blocks
  // for user / assistant / user_context turns, each "header\ncontent", two newlines between blocks; the
  // response header when a reply is wanted (mergekit puts it right after the last block, with no separator)
  alpaca:
    "{% set sys = messages | selectattr('role', 'equalto', 'system') | list %}" +
    "{% if sys %}{{ (sys | last)['content'] | trim }}{% endif %}{{ '\\n\\n' }}" +
    "{% for m in messages %}" +
    "{% if m['role'] == 'user' %}{{ '### Instruction:\\n' + (m['content'] | trim) }}{% if not loop.last %}{{ '\\n\\n' }}{% endif %}" +
    "{% elif m['role'] == 'assistant' %}{{ '### Response:\\n' + (m['content'] | trim) }}{% if not loop.last %}{{ '\\n\\n' }}{% endif %}" +
    "{% elif m['role'] == 'user_context' %}{{ '### Input:\\n' + (m['content'] | trim) }}{% if not loop.last %}{{ '\\n\\n' }}{% endif %}" +
    "{% endif %}{% endfor %}" +
    "{% if add_generation_prompt and messages[-1]['role'] != 'assistant' %}{{ '### Response:\\n' }}{% endif %}",
};
