"""Voice channel: Twilio webhooks that return TwiML, on the one conversation engine.

Mount `connectors.voice.routes.router` and add `connectors.voice.wiring.voice_channel` as a
background hook of `bot.api.create_app` (connectors/app.py does both). Modules:

- `routes`: the IVR webhooks; `hold`: the hold loop, the bridge's action, the agent leg's status;
- `context`: the per-webhook `Call` (record from the database, the called tenant), TwiML replay;
- `engine_store`: calls in the database and their steps on the engine; `calls`: the `CallRecord`;
- `bridge`: putting the caller through to the accepting agent (Twilio REST call update);
- `wiring`: the store, bridge and reply sender on `app.state`;
- `security`: X-Twilio-Signature check; `inbound`: the webhook form; `edge`: answers at the edge;
- `twiml`: pure TwiML builders; `flow`: small pure call-flow decisions;
- `speech`: spoken Danish transcripts to text the understanding core reads well;
- `prompts` + `prompts_da.yml`: every spoken text (Danish and English); `config`: `VoiceSettings`.
"""
