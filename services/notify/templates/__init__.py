"""Message templates, one module per locale (`zh_CN` first, `en` with the same keys and
placeholders): `TEMPLATES` maps `<event type>/<audience>` to (title, body), `LABELS` names codes
in words. `services.notify.rendering` fills them."""
