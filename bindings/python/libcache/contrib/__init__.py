"""Framework integrations: libcache.contrib.django (a Django cache backend) and
libcache.contrib.flask_caching (a Flask-Caching backend).

Each is an optional extra (pip install libcache[django], libcache[flask]);
importing libcache never imports a framework.
"""
