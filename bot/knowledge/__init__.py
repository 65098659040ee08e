"""Knowledge per municipality: local overlays on the national articles, the tenant's view,
review dates, and the training data in Rasa's own format (`python -m bot knowledge|export`)."""
