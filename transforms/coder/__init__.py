"""The learned event coder, one module per stage:

    candidates  the parse proposes: a trigger word with the mentions around it (subject, object,
                prepositional arguments, other named actors of the sentence)
    features    what the models see: parse paths, word n-grams, the verb lexicon's codes, flags
    models      the learned linear models (gate: an event stated as fact?; classifier: which CAMEO
                root?; ranker: which mention is the source, which the target?) and their file
    actors      who a mention is: its actor code, with the article's country and date as context
    coding      walks the stages over a batch of sentences and returns CODED_EVENTS rows

The models are trained by `training/train_coder.py` on the labelled corpus in
benchmarks/data/labels/ and shipped as lexicons/event_coder.json.
"""
