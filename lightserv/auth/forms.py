from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField, SubmitField, ValidationError
from wtforms.validators import DataRequired, Email, EqualTo, Length

from .passwords import password_problem


class StrongPassword:
    """The password policy as a form validator: the reason shows next to the field. The form's username
    (or the logged-in user's) is a word a guesser tries first."""

    def __call__(self, form, field) -> None:
        if not field.data:
            return
        username = form.username.data if "username" in form else current_user.get_id()
        problem = password_problem(field.data, [username or ""])
        if problem:
            raise ValidationError(problem)


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=32)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])
    next = HiddenField()
    submit = SubmitField("Log in")


class ProfileForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(check_deliverability=False), Length(max=100)])
    submit_profile = SubmitField("Save email")


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField("New password", validators=[DataRequired(), StrongPassword()])
    confirm = PasswordField(
        "Repeat the new password", validators=[DataRequired(), EqualTo("new_password", message="The passwords differ.")]
    )
    submit_password = SubmitField("Change password")


class LogoutForm(FlaskForm):
    submit = SubmitField("Log out")


class EndSessionsForm(FlaskForm):
    """The "End" button of one other session and "End all other sessions" (the CSRF token is the form)."""
