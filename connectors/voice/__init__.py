"""Voice channel: Twilio webhooks that return TwiML (issue 5 §3).

Mount `connectors.voice.routes.router` (prefix /voice) with
`bot.api.create_app(settings, routers=[router])`. Modules:

- `routes`: the webhooks; `security`: X-Twilio-Signature check; `inbound`: the webhook form;
- `twiml`: pure TwiML builders; `flow`: small pure call-flow decisions;
- `calls`: the `CallStore` protocol and its in-memory implementation;
- `speech`: spoken Danish transcripts to text the understanding core reads well;
- `prompts` + `prompts_da.yml`: every spoken text (Danish and English); `config`: `VoiceSettings`.
"""
