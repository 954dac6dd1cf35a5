import os
import stat

import pytest

from ..errors import ConfigError
from ..secretbox import SecretBox


def test_key_file_is_private_and_reused(tmp_path):
    path = str(tmp_path / 'sub' / 'secret.key')
    box = SecretBox.from_key_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    token = box.encrypt('correct horse')
    assert 'correct horse' not in token
    assert SecretBox.from_key_file(path).decrypt(token) == 'correct horse'


def test_another_key_cannot_decrypt(tmp_path):
    token = SecretBox.from_key_file(str(tmp_path / 'a')).encrypt('pw')
    with pytest.raises(ConfigError) as info:
        SecretBox.from_key_file(str(tmp_path / 'b')).decrypt(token)
    assert info.value.code == 'secret_unreadable'


def test_missing_key_is_not_created_when_asked(tmp_path):
    with pytest.raises(ConfigError):
        SecretBox.from_key_file(str(tmp_path / 'none'), create=False)


def test_same_plaintext_encrypts_differently(tmp_path):
    box = SecretBox.from_key_file(str(tmp_path / 'k'))
    assert box.encrypt('pw') != box.encrypt('pw')
