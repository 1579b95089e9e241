"""`imagefill web add`: the review panel and its routes, written into the user's own Next.js app.

detect.py reads the app (router, layout, language, Next.js, Supabase); install.py renders the shipped
templates (templates/ts, and templates/js transpiled from them) into a plan and applies it, recording
what it wrote in the app's .imagefill/manifest.json so a later run touches only its own files.
"""
