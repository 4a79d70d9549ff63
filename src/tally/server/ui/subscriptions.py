

def routes(settings):
    return []
