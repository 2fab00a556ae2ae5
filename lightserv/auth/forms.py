from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length


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
    new_password = PasswordField("New password", validators=[DataRequired(), Length(min=10, max=256)])
    confirm = PasswordField(
        "Repeat the new password", validators=[DataRequired(), EqualTo("new_password", message="The passwords differ.")]
    )
    submit_password = SubmitField("Change password")


class LogoutForm(FlaskForm):
    submit = SubmitField("Log out")
