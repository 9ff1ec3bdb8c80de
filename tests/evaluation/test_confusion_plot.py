"""The confusion-matrix PNG."""

from PIL import Image

from mmlm.evaluation.confusion_plot import plot_confusion_matrix


def test_writes_a_png_into_a_new_folder(tmp_path):
    path = str(tmp_path / "plots" / "confusion.png")
    assert plot_confusion_matrix([[3, 1], [0, 2]], ["cat", "dog"], path) == path
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (600, 500)
    many = [[int(i == j) for j in range(30)] for i in range(30)]
    with Image.open(plot_confusion_matrix(many, None, str(tmp_path / "many.png"))) as image:
        assert image.size[0] > 600  # grows with the classes so tick labels stay readable
