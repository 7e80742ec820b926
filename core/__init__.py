"""ST-GIA Lab core: data, geography, models, federated training, attacks, defenses, metrics.

`core` never imports Streamlit; long work reports progress through callbacks.
"""
