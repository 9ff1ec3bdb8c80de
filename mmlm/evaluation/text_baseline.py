"""TF-IDF + logistic regression (scikit-learn): the bag-of-words baseline of text classifiers."""

import numpy as np


def tfidf_logistic_regression(train_texts, train_labels, test_texts, seed=0):
    """Predicted labels of `test_texts` from a TF-IDF (word 1-2-grams, sublinear tf) logistic
    regression (C=10, balanced class weights) fitted on the training texts and labels."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    if len(set(train_labels)) < 2:
        raise ValueError("the TF-IDF baseline needs training texts of at least two classes")
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    features = vectorizer.fit_transform(train_texts)
    model = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced", random_state=seed)
    model.fit(features, np.asarray(train_labels))
    return model.predict(vectorizer.transform(test_texts))
