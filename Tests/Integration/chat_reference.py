"""transformers' apply_chat_template, the integration tests' independent reference for chat prompts: a
sandboxed jinja2 environment with trim_blocks + lstrip_blocks and loopcontrols, its tojson filter, and the
tokenizer config's bos_token / eos_token (where it names them) in the context."""
import copy
import json

import jinja2.ext
import jinja2.sandbox

# transformers' continue_final_message_tag (5.x): appended to the final message's content, the rendering
# is cut where it lands.
CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "


def render_chat(config, messages, add_generation_prompt=True, continue_final_message=False, **variables):
    """`config`: the folder's tokenizer_config.json (its chat_template); `variables`: extra template
    variables (tools, chat_template_kwargs such as thinking); `continue_final_message`: the final
    message (text content) left open, as transformers leaves it."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = lambda x, indent=None, ensure_ascii=False: json.dumps(x, ensure_ascii=ensure_ascii, indent=indent)
    special = {k: config[k] for k in ("bos_token", "eos_token") if isinstance(config.get(k), str)}
    if continue_final_message:
        messages = copy.deepcopy(messages)
        messages[-1]["content"] += CONTINUE_TAG
    text = env.from_string(config["chat_template"]).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                                           **special, **variables)
    if continue_final_message:
        at = text.rindex(CONTINUE_TAG.strip())
        text = text[:at] if text[at:at + len(CONTINUE_TAG)] == CONTINUE_TAG else text[:at].rstrip()
    return text
