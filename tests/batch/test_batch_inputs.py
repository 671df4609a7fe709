"""Input specs (files, folders, globs, list files) and collision-free output folder names."""
import pytest

from chunkygan.batch import InputListError, is_single_image, list_inputs, output_names

from batch_photos import make_photos


def test_folder_glob_and_list_file(tmp_path):
    a = make_photos(tmp_path / "x", ["p1.png", "p2.jpg"])
    b = make_photos(tmp_path / "y", ["p1.png", "q.webp"])
    (tmp_path / "x" / "readme.md").write_text("not listed from a folder")
    lst = tmp_path / "list.txt"
    lst.write_text("# comment\n\ny/q.webp\nx/p1.png\n")
    assert list_inputs([str(tmp_path / "x")]) == a
    assert list_inputs(str(tmp_path / "*" / "p1.png")) == [a[0], b[0]]
    assert list_inputs([f"@{lst}"]) == [b[1], a[0]]
    assert list_inputs([str(lst)]) == [b[1], a[0]]  # a .txt file is a list file too
    # duplicates are dropped, order is kept; the output folder is never listed
    assert list_inputs([str(a[1]), str(tmp_path / "x"), str(tmp_path / "y")], exclude=tmp_path / "y") == [a[1], a[0]]
    assert list_inputs([str(tmp_path)], recursive=True) == [a[0], a[1], b[0], b[1]]


def test_bad_specs_say_what_is_wrong(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputListError, match="no such file"):
        list_inputs([str(tmp_path / "missing.png")])
    with pytest.raises(InputListError, match="no images"):
        list_inputs([str(tmp_path / "empty")])
    with pytest.raises(InputListError, match="matches no files"):
        list_inputs([str(tmp_path / "*.png")])


def test_single_image_detection(tmp_path):
    (p,) = make_photos(tmp_path, ["one.png"])
    assert is_single_image([str(p)]) and is_single_image(str(tmp_path / "missing.png"))
    assert not is_single_image([str(p), str(p)]) and not is_single_image([str(tmp_path)])
    assert not is_single_image([str(tmp_path / "*.png")]) and not is_single_image(["@list.txt"])


def test_output_names_are_stable_and_collision_free(tmp_path):
    paths = [tmp_path / "a" / "face.png", tmp_path / "b" / "Face.jpg", tmp_path / "c" / "my photo!.png"]
    names = output_names(paths)
    assert names[2] == "my_photo"
    assert names[0].startswith("face-") and names[1].startswith("Face-") and len({n.lower() for n in names}) == 3
    assert output_names(list(reversed(paths))) == list(reversed(names))  # independent of the order
    assert output_names([paths[0]]) == ["face"]


def test_finished_inputs_keep_their_folders(tmp_path):
    a, b = tmp_path / "x" / "face.png", tmp_path / "y" / "face.png"
    first = output_names([a, b])  # both hashed
    existing = {str(a.resolve()): first[0], str(b.resolve()): first[1]}
    assert output_names([a], existing) == [first[0]]  # a later run with fewer inputs finds the same folder
    # a new input never takes a folder an earlier run finished for another input
    assert output_names([tmp_path / "z" / "face.png"], {str(a.resolve()): "face"})[0].startswith("face-")
