"""Rasa's REST and callback channels on the conversation engine, for clients that speak Rasa's
channel protocol (a Rasa chat widget, a messaging bridge):

- `inbound`: the request body and the contact's external_ref (`rasa-rest:<sender>/<n>`);
- `outbound`: Rasa's message dicts;
- `service`: `RasaChannel`, one turn on the engine and the handover of what the citizen is owed;
- `delivery`: the callback POSTs (outbox sender and worker, lifespan hook `rasa_background`);
- `routes`: the webhooks.

The NLU endpoints (`/`, `/health`, `/model/parse`) stay in bot/api/rasa.py.
"""

from connectors.rasa.delivery import rasa_background
from connectors.rasa.routes import router

__all__ = ["rasa_background", "router"]
